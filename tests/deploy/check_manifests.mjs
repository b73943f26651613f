// Checks the rendered Kubernetes manifests of one overlay (the output of `kubectl kustomize`):
//  1. every object validates against the Kubernetes schemas (npm kubernetes-models: types, enums,
//     required fields), and has no field the schema does not know (a typo such as
//     readOnlyRootFileSystem would be silently dropped by the API server);
//  2. the deployment rules of issue 6, for each of triage, content and reminder: gRPC readiness,
//     liveness (different health service names) and startup probes, resources, securityContext,
//     own ServiceAccount without token, topology spread, PDB, HPA, headless Service, settings from
//     ConfigMaps (LEGWISE_LISTEN_HOST=::, dual stack), terminationGracePeriodSeconds > shutdown_grace +
//     drain_delay, service-to-service addresses that resolve to the headless Services;
//  3. the NetworkPolicies, by evaluating them on a matrix of (source, destination, port): clients may
//     reach the three services, triage and reminder reach content, content and reminder reach Redis,
//     every pod reaches kube-dns, and nothing else is allowed;
//  4. Redis: a StatefulSet with a volume claim and AOF (in-cluster), or an external address with the
//     password from a Secret (managed);
//  5. the gateway and the push sender: their own rules, and where they may connect.
// With --self-test it also breaks the manifests in memory in several ways and fails unless every
// break is caught (the checks can fail).
//
// Usage: node check_manifests.mjs --modules DIR --overlay NAME --file RENDERED.yaml
//            [--redis-conf deploy/containers/redis.conf] [--self-test]
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";

const args = {};
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (a === "--self-test") args.selfTest = true;
  else args[a.replace(/^--/, "").replace(/-(.)/g, (_, c) => c.toUpperCase())] = process.argv[++i];
}
for (const k of ["modules", "overlay", "file"]) {
  if (!args[k]) {
    console.error(`missing --${k}`);
    process.exit(2);
  }
}
const MODULES = path.resolve(args.modules);
const require = createRequire(path.join(MODULES, "noop.js"));
const YAML = require("yaml");

const SERVICES = {
  triage: { port: 50051, metrics: 9461, fq: "legwise.triage.v1.TriageService" },
  content: { port: 50052, metrics: 9462, fq: "legwise.content.v1.ContentService" },
  reminder: { port: 50053, metrics: 9463, fq: "legwise.reminder.v1.ReminderService" },
};
const MANAGED = args.overlay.includes("managed-redis");
const PROD = args.overlay.startsWith("prod");

// ---------------------------------------------------------------------------------------------
// Helpers.

function parseDuration(s) {
  // absl::ParseDuration subset: 1h2m3.5s, 150ms, 0.
  if (s === "0") return 0;
  const units = { ns: 1e-9, us: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };
  let total = 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)/gy;
  let m;
  let consumed = 0;
  while ((m = re.exec(s)) !== null) {
    total += parseFloat(m[1]) * units[m[2]];
    consumed = re.lastIndex;
  }
  if (consumed !== s.length || s.length === 0) throw new Error(`bad duration ${s}`);
  return total;
}

function parseQuantity(q) {
  const s = String(q);
  const m = /^(\d+(?:\.\d+)?)(m|Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(s);
  if (!m) throw new Error(`bad quantity ${s}`);
  const mult = { m: 1e-3, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4, k: 1e3, M: 1e6, G: 1e9, T: 1e12 };
  return parseFloat(m[1]) * (m[2] ? mult[m[2]] : 1);
}

function selectorMatches(sel, labels) {
  if (!sel) return false;
  for (const [k, v] of Object.entries(sel.matchLabels || {})) if (labels[k] !== v) return false;
  for (const e of sel.matchExpressions || []) {
    const has = Object.prototype.hasOwnProperty.call(labels, e.key);
    if (e.operator === "In" && !(has && e.values.includes(labels[e.key]))) return false;
    if (e.operator === "NotIn" && has && e.values.includes(labels[e.key])) return false;
    if (e.operator === "Exists" && !has) return false;
    if (e.operator === "DoesNotExist" && has) return false;
  }
  return true;
}

function ipInCidr(ip, cidr) {
  const [base, bits] = cidr.split("/");
  const toInt = (a) => a.split(".").reduce((acc, o) => acc * 256 + Number(o), 0);
  const size = 2 ** (32 - Number(bits ?? 32));
  return Math.floor(toInt(ip) / size) === Math.floor(toInt(base) / size);
}

// ---------------------------------------------------------------------------------------------
// 1. Schemas.

const modelCache = new Map();
async function modelClass(apiVersion, kind) {
  const dir = apiVersion.includes("/") ? apiVersion : `v1`;
  const file = path.join(MODULES, "kubernetes-models", dir, `${kind}.js`);
  if (!fs.existsSync(file)) return null;
  if (!modelCache.has(file)) modelCache.set(file, (await import(pathToFileURL(file).href))[kind]);
  return modelCache.get(file);
}

// Field names per TypeScript interface of kubernetes-models (.d.ts), for the unknown-field check.
const dtsCache = new Map();
function readInterface(dtsFile) {
  if (dtsCache.has(dtsFile)) return dtsCache.get(dtsFile);
  let result = null;
  if (fs.existsSync(dtsFile)) {
    const text = fs.readFileSync(dtsFile, "utf8");
    const imports = {};
    for (const m of text.matchAll(/import \{([^}]+)\} from "([^"]+)";/g)) {
      for (const name of m[1].split(",").map((x) => x.trim())) imports[name] = m[2];
    }
    const body = /export interface I\w+(?: extends [\w, ]+)? \{\n([\s\S]*?)\n\}/.exec(text);
    if (body) {
      const props = {};
      // Top-level members only (4 spaces); a map type ("{ [key: string]: ... }") spans lines.
      for (const m of body[1].matchAll(/^ {4}"([^"]+)"\??: (.*?);?$/gm)) props[m[1]] = m[2];
      result = { props, imports, dir: path.dirname(dtsFile) };
    }
  }
  dtsCache.set(dtsFile, result);
  return result;
}
function resolveImport(iface, name) {
  const from = iface.imports[name];
  if (!from) return null;
  const base = from.startsWith(".")
    ? path.join(iface.dir, from.replace(/\.js$/, ""))
    : path.join(MODULES, from.replace(/\.js$/, ""));
  return `${base}.d.ts`;
}
function unknownFields(value, iface, at, out) {
  if (!iface || value === null || typeof value !== "object" || Array.isArray(value)) return;
  for (const [k, v] of Object.entries(value)) {
    const type = iface.props[k];
    if (type === undefined) {
      out.push(`${at}.${k}: unknown field`);
      continue;
    }
    const arr = /^Array<(\w+)>$/.exec(type);
    const one = /^(I\w+)$/.exec(type);
    const ref = arr ? arr[1] : one ? one[1] : null;
    if (!ref) continue;
    const file = resolveImport(iface, ref);
    const sub = file ? readInterface(file) : null;
    if (!sub) continue;
    if (arr && Array.isArray(v)) v.forEach((e, i) => unknownFields(e, sub, `${at}.${k}[${i}]`, out));
    else if (!arr) unknownFields(v, sub, `${at}.${k}`, out);
  }
}

async function schemaErrors(objects) {
  const errors = [];
  for (const o of objects) {
    const id = `${o.kind}/${o.metadata?.name}`;
    if (o.apiVersion === "monitoring.coreos.com/v1") {
      // Prometheus Operator CRDs (no kubernetes-models schema): the fields the kit relies on.
      const allowed = { ServiceMonitor: ["selector", "endpoints"], PodMonitor: ["selector", "podMetricsEndpoints"], PrometheusRule: ["groups"] }[o.kind];
      if (!allowed) errors.push(`${id}: unexpected monitoring kind`);
      else for (const k of Object.keys(o.spec || {})) if (!allowed.includes(k)) errors.push(`${id}: unknown field spec.${k}`);
      if (o.kind === "ServiceMonitor" && !(o.spec?.endpoints || []).every((e) => e.port === "metrics")) {
        errors.push(`${id}: endpoints must scrape the "metrics" port`);
      }
      if (o.kind === "PodMonitor" && !(o.spec?.podMetricsEndpoints || []).every((e) => e.port === "metrics")) {
        errors.push(`${id}: podMetricsEndpoints must scrape the "metrics" port`);
      }
      if (o.kind === "PrometheusRule") {
        for (const g of o.spec?.groups || []) for (const r of g.rules || []) {
          if (r.alert && !r.annotations?.runbook_url) errors.push(`${id}: alert ${r.alert} has no runbook_url`);
        }
      }
      continue;
    }
    const Model = await modelClass(o.apiVersion, o.kind);
    if (!Model) {
      errors.push(`${id}: no schema for ${o.apiVersion} ${o.kind}`);
      continue;
    }
    try {
      new Model(structuredClone(o)).validate();
    } catch (e) {
      errors.push(`${id}: ${e.message}`);
    }
    const dir = o.apiVersion.includes("/") ? o.apiVersion : "v1";
    unknownFields(o, readInterface(path.join(MODULES, "kubernetes-models", dir, `${o.kind}.d.ts`)), id, errors);
  }
  return errors;
}

// ---------------------------------------------------------------------------------------------
// 3. NetworkPolicy evaluation. An endpoint: {ns, labels} for a pod, or {ip} outside the cluster.

// The namespace Prometheus runs in carries the label the monitoring kit admits.
const NAMESPACE_LABELS = (ns) => ({
  "kubernetes.io/metadata.name": ns,
  ...(ns === "monitoring" ? { "legwise.io/monitoring": "true" } : {}),
});

function peerMatches(peer, policyNs, ep) {
  if (peer.ipBlock) {
    if (!ep.ip) return false;
    return ipInCidr(ep.ip, peer.ipBlock.cidr) && !(peer.ipBlock.except || []).some((c) => ipInCidr(ep.ip, c));
  }
  if (!ep.labels) return false;
  if (peer.namespaceSelector) {
    if (!selectorMatches(peer.namespaceSelector, NAMESPACE_LABELS(ep.ns))) return false;
  } else if (ep.ns !== policyNs) {
    return false;
  }
  return peer.podSelector ? selectorMatches(peer.podSelector, ep.labels) : true;
}
function portMatches(ports, port, protocol) {
  if (!ports || ports.length === 0) return true;
  return ports.some((p) => {
    if ((p.protocol || "TCP") !== protocol) return false;
    if (p.port === undefined) return true;
    if (typeof p.port !== "number") throw new Error(`named port ${p.port} not supported by this check`);
    return p.endPort ? port >= p.port && port <= p.endPort : port === p.port;
  });
}
function typesOf(p) {
  if (p.spec.policyTypes) return p.spec.policyTypes;
  return p.spec.egress ? ["Ingress", "Egress"] : ["Ingress"];
}
// Does each end allow a connection from src to dst:port? {egress: src's policies, ingress: dst's}.
// An endpoint outside the cluster (ip) or outside our namespace has no policy of ours: its side is
// null (not ours to decide).
function sides(policies, src, dst, port, protocol = "TCP") {
  const side = (pod, type, field, peerField, other) => {
    if (!pod.labels) return null;
    const isolating = policies.filter(
      (p) => p.metadata.namespace === pod.ns && typesOf(p).includes(type) && selectorMatches(p.spec.podSelector, pod.labels),
    );
    if (!policies.some((p) => p.metadata.namespace === pod.ns)) return null;
    if (isolating.length === 0) return true;
    return isolating.some((p) =>
      (p.spec[field] || []).some(
        (rule) =>
          (!rule[peerField] || rule[peerField].length === 0 || rule[peerField].some((peer) => peerMatches(peer, p.metadata.namespace, other))) &&
          portMatches(rule.ports, port, protocol),
      ),
    );
  };
  return { egress: side(src, "Egress", "egress", "to", dst), ingress: side(dst, "Ingress", "ingress", "from", src) };
}

// ---------------------------------------------------------------------------------------------
// 2 + 3 + 4: the rules. Returns a list of failures.

function check(objects, ctx) {
  const fails = [];
  const fail = (m) => fails.push(m);
  const find = (kind, name) => objects.find((o) => o.kind === kind && o.metadata.name === name);
  const ns = ctx.namespace;

  for (const o of objects) {
    if (o.kind === "Namespace") continue;
    if (o.metadata.namespace !== ns) fail(`${o.kind}/${o.metadata.name}: namespace ${o.metadata.namespace}, want ${ns}`);
  }
  const nsObj = find("Namespace", ns);
  if (!nsObj) fail(`no Namespace ${ns}`);
  else if (nsObj.metadata.labels?.["pod-security.kubernetes.io/enforce"] !== "restricted") fail(`Namespace ${ns}: Pod Security not restricted`);

  const checkSecurity = (id, pod, c) => {
    const psc = pod.securityContext || {};
    const csc = c.securityContext || {};
    if (!(csc.runAsNonRoot === true || (psc.runAsNonRoot === true && csc.runAsNonRoot !== false))) fail(`${id}: runAsNonRoot`);
    if ((csc.runAsUser ?? psc.runAsUser) === 0) fail(`${id}: runs as uid 0`);
    if (csc.readOnlyRootFilesystem !== true) fail(`${id}: readOnlyRootFilesystem`);
    if (csc.allowPrivilegeEscalation !== false) fail(`${id}: allowPrivilegeEscalation`);
    if (csc.privileged === true) fail(`${id}: privileged`);
    if (!(csc.capabilities?.drop || []).includes("ALL")) fail(`${id}: capabilities drop ALL`);
    if ((csc.capabilities?.add || []).length) fail(`${id}: adds capabilities`);
    const seccomp = csc.seccompProfile?.type ?? psc.seccompProfile?.type;
    if (seccomp !== "RuntimeDefault") fail(`${id}: seccomp ${seccomp}`);
    if (pod.automountServiceAccountToken !== false) fail(`${id}: pod automountServiceAccountToken not false`);
    const sa = find("ServiceAccount", pod.serviceAccountName);
    if (!sa) fail(`${id}: ServiceAccount ${pod.serviceAccountName} missing`);
    else if (sa.automountServiceAccountToken !== false) fail(`${id}: ServiceAccount automountServiceAccountToken not false`);
    for (const kind of ["requests", "limits"]) {
      for (const r of ["cpu", "memory"]) {
        if (c.resources?.[kind]?.[r] === undefined) fail(`${id}: resources.${kind}.${r} missing`);
      }
    }
    for (const r of ["cpu", "memory"]) {
      const req = c.resources?.requests?.[r];
      const lim = c.resources?.limits?.[r];
      if (req !== undefined && lim !== undefined && parseQuantity(req) > parseQuantity(lim)) fail(`${id}: ${r} request > limit`);
    }
    if (!c.image || /^legwise\//.test(c.image)) fail(`${id}: image ${c.image} not set by the overlay`);
    if (/:latest$/.test(c.image) || !/:[\w.-]+$/.test(c.image)) fail(`${id}: image ${c.image} has no fixed tag`);
    if (PROD && c.image.startsWith("localhost/")) fail(`${id}: prod image ${c.image} is local`);
    // dev runs what deploy/containers/build-and-run.sh builds: localhost/legwise/<name>:dev.
    // legwise-push runs from the reminder image (deploy/containers: one image, two executables).
    const short = { push: "reminder" }[id.split("/")[1].replace(/^legwise-/, "")] ?? id.split("/")[1].replace(/^legwise-/, "");
    if (args.overlay === "dev" && c.image !== `localhost/legwise/${short}:dev`) fail(`${id}: dev image ${c.image}, want localhost/legwise/${short}:dev`);
    if (!new RegExp(`(^|/)legwise/${short}:[\\w.-]+$`).test(c.image)) fail(`${id}: image ${c.image} is not <registry>/legwise/${short}:<tag>`);
  };

  const envOf = (pod, c) => {
    const env = {};
    for (const ef of c.envFrom || []) {
      const cm = ef.configMapRef && find("ConfigMap", ef.configMapRef.name);
      if (!cm) {
        fail(`${c.name}: envFrom ConfigMap ${ef.configMapRef?.name} missing`);
        continue;
      }
      Object.assign(env, cm.data);
    }
    for (const e of c.env || []) env[e.name] = e.value !== undefined ? e.value : { from: e.valueFrom };
    return env;
  };
  const resolvesTo = (addr, svcName, port, id, what) => {
    if (typeof addr !== "string") return fail(`${id}: ${what} not set`);
    const [host, p] = [addr.slice(0, addr.lastIndexOf(":")).replace(/^dns:\/\/\//, ""), Number(addr.slice(addr.lastIndexOf(":") + 1))];
    const svc = find("Service", host.split(".")[0]);
    if (host.split(".")[0] !== svcName || !svc) return fail(`${id}: ${what}=${addr} is not the Service ${svcName}`);
    if (svc.spec.clusterIP !== "None") fail(`${id}: ${what} Service ${svcName} is not headless (no per-pod balancing)`);
    if (!svc.spec.ports.some((sp) => sp.port === p)) fail(`${id}: ${what}=${addr}: Service ${svcName} has no port ${p}`);
    if (p !== port) fail(`${id}: ${what} port ${p}, want ${port}`);
  };

  // Redis settings of a pod that uses Redis (content, reminder, push): the in-cluster Service or,
  // managed, an outside address; the password a file from a mounted Secret, never an environment
  // variable.
  const checkRedisSettings = (id, pod, c, env) => {
    if (MANAGED) {
      const host = String(env.LEGWISE_REDIS_ADDR || "").split(":")[0];
      if (!host || host === "legwise-redis" || host.startsWith("127.")) fail(`${id}: managed LEGWISE_REDIS_ADDR=${env.LEGWISE_REDIS_ADDR}`);
    } else {
      resolvesTo(env.LEGWISE_REDIS_ADDR, "legwise-redis", 6379, id, "LEGWISE_REDIS_ADDR");
    }
    if ((c.env || []).some((e) => e.name === "LEGWISE_REDIS_PASSWORD") || env.LEGWISE_REDIS_PASSWORD !== undefined) {
      fail(`${id}: LEGWISE_REDIS_PASSWORD in the environment (mount the Secret as a file)`);
    }
    const pwFile = String(env.LEGWISE_REDIS_PASSWORD_FILE || "");
    const pwMount = (c.volumeMounts || []).find((m) => pwFile.startsWith(m.mountPath + "/"));
    const pwVolume = pwMount && (pod.volumes || []).find((v) => v.name === pwMount.name);
    if (!pwVolume?.secret?.secretName) fail(`${id}: LEGWISE_REDIS_PASSWORD_FILE=${pwFile} is not in a mounted Secret`);
  };
  const podLabels = {};
  for (const [svc, want] of Object.entries(SERVICES)) {
    const name = `legwise-${svc}`;
    const id = `Deployment/${name}`;
    const d = find("Deployment", name);
    if (!d) {
      fail(`${id} missing`);
      continue;
    }
    const pod = d.spec.template.spec;
    const labels = d.spec.template.metadata.labels || {};
    podLabels[svc] = labels;
    if (!selectorMatches(d.spec.selector, labels)) fail(`${id}: selector does not match its pods`);
    if (pod.containers.length !== 1) fail(`${id}: ${pod.containers.length} containers, want 1`);
    const c = pod.containers[0];
    if (pod.serviceAccountName !== name) fail(`${id}: serviceAccountName ${pod.serviceAccountName}, want its own ${name}`);
    checkSecurity(id, pod, c);
    const grpcPort = (c.ports || []).find((p) => p.name === "grpc");
    if (!grpcPort || grpcPort.containerPort !== want.port) fail(`${id}: grpc containerPort ${grpcPort?.containerPort}, want ${want.port}`);

    // Probes.
    const rp = c.readinessProbe?.grpc;
    const lp = c.livenessProbe?.grpc;
    const sp = c.startupProbe;
    if (!rp) fail(`${id}: readinessProbe is not a gRPC probe`);
    if (!lp) fail(`${id}: livenessProbe is not a gRPC probe`);
    if (!sp) fail(`${id}: no startupProbe`);
    if (rp && !["", want.fq].includes(rp.service ?? "")) fail(`${id}: readiness health service "${rp.service}"`);
    if (lp && lp.service !== "liveness") fail(`${id}: liveness health service "${lp.service}", want "liveness"`);
    if (rp && lp && (rp.service ?? "") === (lp.service ?? "")) fail(`${id}: readiness and liveness use the same health service`);
    // Probes speak plaintext: with TLS on, they go to the plaintext probe port (health only).
    const env0 = envOf(pod, c);
    const tls = env0.LEGWISE_TLS_CERT_FILE !== undefined;
    const probePort = tls ? Number(env0.LEGWISE_PROBE_PORT) : want.port;
    if (tls && !(probePort > 0 && probePort !== want.port)) fail(`${id}: TLS on but no separate LEGWISE_PROBE_PORT for kubelet probes`);
    if (tls && !(c.ports || []).some((p) => p.containerPort === probePort)) fail(`${id}: probe port ${probePort} not declared`);
    for (const [n, p] of [["readiness", rp], ["liveness", lp], ["startup", sp?.grpc]]) {
      if (p && p.port !== probePort) fail(`${id}: ${n} probe port ${p.port}, want ${probePort}`);
    }
    // Production authenticates every caller over TLS: a server without it refuses 0.0.0.0.
    if (PROD) {
      if (!tls) fail(`${id}: production without TLS`);
      if (!env0.LEGWISE_JWKS_FILE && !env0.LEGWISE_TLS_CLIENT_CA_FILE) fail(`${id}: production without caller authentication`);
      for (const k of ["LEGWISE_TLS_CERT_FILE", "LEGWISE_TLS_KEY_FILE", "LEGWISE_TLS_CLIENT_CA_FILE", "LEGWISE_JWKS_FILE"]) {
        const dir = env0[k] && env0[k].slice(0, env0[k].lastIndexOf("/"));
        if (env0[k] && !(c.volumeMounts || []).some((m) => m.mountPath === dir && m.readOnly)) fail(`${id}: ${k} is not on a read-only mount`);
      }
    }
    if (sp && sp.grpc && sp.grpc.service !== "liveness") fail(`${id}: startup probe should wait for "liveness"`);
    if (sp && (sp.failureThreshold ?? 3) * (sp.periodSeconds ?? 10) < 30) fail(`${id}: startupProbe allows < 30 s to start`);

    // Settings.
    const env = envOf(pod, c);
    // "::": every interface, IPv6 and IPv4, so the pod serves on dual-stack clusters too.
    if (env.LEGWISE_LISTEN_HOST !== "::") fail(`${id}: LEGWISE_LISTEN_HOST=${env.LEGWISE_LISTEN_HOST}, want ::`);
    if (Number(env.LEGWISE_PORT) !== want.port) fail(`${id}: LEGWISE_PORT=${env.LEGWISE_PORT}, want ${want.port}`);
    if (Number(env.LEGWISE_METRICS_PORT) !== want.metrics) fail(`${id}: LEGWISE_METRICS_PORT=${env.LEGWISE_METRICS_PORT}`);
    for (const k of Object.keys(env)) if (!k.startsWith("LEGWISE_")) fail(`${id}: setting ${k} is not a LEGWISE_ variable`);
    // --insecure (plaintext without authentication on 0.0.0.0) is for development only.
    if (PROD && /^(true|1|yes)$/i.test(String(env.LEGWISE_INSECURE ?? ""))) fail(`${id}: LEGWISE_INSECURE in production`);
    const grace = parseDuration(env.LEGWISE_SHUTDOWN_GRACE ?? "20s") + parseDuration(env.LEGWISE_DRAIN_DELAY ?? "0");
    const tgps = pod.terminationGracePeriodSeconds ?? 30;
    if (!(tgps > grace)) fail(`${id}: terminationGracePeriodSeconds ${tgps} <= shutdown_grace + drain_delay (${grace} s)`);
    if (parseDuration(env.LEGWISE_MAX_CONNECTION_AGE ?? "5m") > 600) fail(`${id}: max connection age over 10m: clients rebalance too slowly`);
    if (svc === "triage" || svc === "reminder") resolvesTo(env.LEGWISE_CONTENT_ADDR, "legwise-content", 50052, id, "LEGWISE_CONTENT_ADDR");
    if (svc === "content" || svc === "reminder") {
      checkRedisSettings(id, pod, c, env);
    } else if (env.LEGWISE_REDIS_ADDR !== undefined || env.LEGWISE_REDIS_PASSWORD !== undefined) {
      fail(`${id}: triage gets Redis settings it does not use`);
    }
    if (svc === "content" && env.LEGWISE_CONTENT_ADDR !== undefined) fail(`${id}: content has a content address`);

    // Topology spread.
    const tsc = pod.topologySpreadConstraints || [];
    if (!tsc.some((t) => t.topologyKey === "kubernetes.io/hostname")) fail(`${id}: no spread over nodes`);
    if (!tsc.some((t) => t.topologyKey === "topology.kubernetes.io/zone")) fail(`${id}: no spread over zones`);
    for (const t of tsc) if (!selectorMatches(t.labelSelector, labels)) fail(`${id}: spread constraint ${t.topologyKey} selects other pods`);

    // PDB, HPA, Service.
    const pdbs = objects.filter((o) => o.kind === "PodDisruptionBudget" && selectorMatches(o.spec.selector, labels));
    if (pdbs.length !== 1) fail(`${id}: ${pdbs.length} PodDisruptionBudgets select its pods, want 1`);
    const hpa = objects.find((o) => o.kind === "HorizontalPodAutoscaler" && o.spec.scaleTargetRef.kind === "Deployment" && o.spec.scaleTargetRef.name === name);
    if (!hpa) fail(`${id}: no HorizontalPodAutoscaler`);
    else {
      if (!(hpa.spec.minReplicas >= 1 && hpa.spec.minReplicas <= hpa.spec.maxReplicas)) fail(`${id}: HPA ${hpa.spec.minReplicas}..${hpa.spec.maxReplicas}`);
      if (PROD && hpa.spec.minReplicas < 2) fail(`${id}: prod HPA minReplicas < 2`);
      if (!(hpa.spec.metrics || []).length) fail(`${id}: HPA without metrics`);
      if (d.spec.replicas !== undefined) fail(`${id}: sets spec.replicas although the HPA owns the count (every apply would reset it)`);
    }
    if (PROD && pdbs[0] && pdbs[0].spec.minAvailable !== undefined && pdbs[0].spec.minAvailable >= (hpa?.spec.minReplicas ?? 1)) fail(`${id}: PDB blocks every drain`);
    const service = find("Service", name);
    if (!service) fail(`${id}: no Service ${name}`);
    else {
      if (service.spec.clusterIP !== "None") fail(`Service/${name}: not headless`);
      if (service.spec.publishNotReadyAddresses) fail(`Service/${name}: publishes not-ready pods`);
      if (!selectorMatches({ matchLabels: service.spec.selector }, labels)) fail(`Service/${name}: selector misses the pods`);
      const sp2 = service.spec.ports.find((p) => p.port === want.port);
      if (!sp2 || !(sp2.targetPort === "grpc" || sp2.targetPort === want.port)) fail(`Service/${name}: no port ${want.port} -> grpc`);
    }
  }

  // Redis.
  const redisSts = find("StatefulSet", "legwise-redis");
  let redisLabels = null;
  if (MANAGED) {
    if (redisSts) fail("managed-redis overlay still runs a Redis StatefulSet");
  } else if (!redisSts) {
    fail("no StatefulSet legwise-redis");
  } else {
    const pod = redisSts.spec.template.spec;
    redisLabels = redisSts.spec.template.metadata.labels;
    checkSecurity("StatefulSet/legwise-redis", pod, pod.containers[0]);
    const claim = (redisSts.spec.volumeClaimTemplates || [])[0];
    if (!claim) fail("Redis: no volumeClaimTemplates");
    const mount = (pod.containers[0].volumeMounts || []).find((m) => m.mountPath === "/data");
    if (!mount || mount.name !== claim?.metadata.name) fail("Redis: /data is not the persistent volume");
    const cfgVol = (pod.volumes || []).find((v) => v.configMap);
    const cfg = cfgVol && find("ConfigMap", cfgVol.configMap.name);
    const conf = cfg?.data?.["redis.conf"] || "";
    if (!/^appendonly yes$/m.test(conf)) fail("Redis: AOF not on in redis.conf");
    if (!/^dir \/data$/m.test(conf)) fail("Redis: dir is not /data");
    if (!/^maxmemory-policy noeviction$/m.test(conf)) fail("Redis: evicts keys (reminder data is not a cache)");
    if (args.redisConf && fs.readFileSync(args.redisConf, "utf8") !== conf) fail(`Redis: ConfigMap redis.conf differs from ${args.redisConf}`);
    if (!(pod.containers[0].readinessProbe && pod.containers[0].livenessProbe)) fail("Redis: probes missing");
    if (!/^protected-mode yes$/m.test(conf)) fail("Redis: protected mode off");
    // requirepass comes from a mounted Secret, included after redis.conf.
    const redisArgs = pod.containers[0].args || [];
    const inc = redisArgs[redisArgs.indexOf("--include") + 1];
    const incMount = inc && (pod.containers[0].volumeMounts || []).find((m) => inc.startsWith(m.mountPath + "/"));
    const incVolume = incMount && (pod.volumes || []).find((v) => v.name === incMount.name);
    if (!redisArgs.includes("--include") || !incVolume?.secret?.secretName) fail("Redis: no requirepass from a Secret");
    const svc = find("Service", "legwise-redis");
    if (!svc || !selectorMatches({ matchLabels: svc.spec.selector }, redisLabels)) fail("Redis: no Service selecting it");
    if (redisSts.spec.serviceName !== "legwise-redis") fail("Redis: serviceName");
  }

  // Network policies.
  const policies = objects.filter((o) => o.kind === "NetworkPolicy");
  if (!policies.some((p) => Object.keys(p.spec.podSelector || {}).length === 0 && !p.spec.ingress && !p.spec.egress &&
      typesOf(p).includes("Ingress") && typesOf(p).includes("Egress"))) {
    fail("no default-deny NetworkPolicy (empty podSelector, Ingress + Egress, no rules)");
  }
  const pods = {};
  for (const svc of Object.keys(SERVICES)) if (podLabels[svc]) pods[svc] = { ns, labels: podLabels[svc] };
  const client = { ns: "gateway", labels: { "legwise.io/client": "true", app: "gateway" } };
  const stranger = { ns, labels: { app: "debug" } };
  const strangerElsewhere = { ns: "other", labels: { app: "web" } };
  const dns = { ns: "kube-system", labels: { "k8s-app": "kube-dns" } };
  const internet = { ip: "203.0.113.7" };
  const managedRedis = { ip: "10.20.0.5" };
  const redis = redisLabels ? { ns, labels: redisLabels } : managedRedis;
  const expect = (what, src, dst, port, want, protocol = "TCP") => {
    if (!src || !dst) return;
    // Allowed: every end of ours allows it. Denied: every end of ours denies it (defense in depth:
    // a loosened egress rule is a failure even while the other end still blocks the call).
    const s = sides(policies, src, dst, port, protocol);
    for (const [end, got] of Object.entries(s)) {
      if (got !== null && got !== want) fail(`NetworkPolicy: ${what} on ${protocol}/${port}: ${end} side ${got ? "allows" : "denies"} it, want ${want ? "allowed" : "denied"}`);
    }
  };
  const monitored = objects.some((o) => o.kind === "ServiceMonitor");
  const prometheus = { ns: "monitoring", labels: { "app.kubernetes.io/name": "prometheus" } };
  for (const [svc, want] of Object.entries(SERVICES)) {
    // The monitoring kit: Prometheus reaches the metrics ports, and nothing else.
    expect(`prometheus -> ${svc} metrics`, prometheus, pods[svc], want.metrics, monitored);
    expect(`prometheus -> ${svc}`, prometheus, pods[svc], want.port, false);
    expect(`pod of another namespace -> ${svc} metrics`, strangerElsewhere, pods[svc], want.metrics, false);
    expect(`client -> ${svc}`, client, pods[svc], want.port, true);
    expect(`client -> ${svc} metrics`, client, pods[svc], want.metrics, false);
    expect(`unlabelled pod -> ${svc}`, stranger, pods[svc], want.port, false);
    expect(`pod of another namespace -> ${svc}`, strangerElsewhere, pods[svc], want.port, false);
    expect(`${svc} -> kube-dns`, pods[svc], dns, 53, true, "UDP");
    expect(`${svc} -> kube-dns (TCP)`, pods[svc], dns, 53, true);
    expect(`${svc} -> internet`, pods[svc], internet, 443, false);
    expect(`${svc} -> pod of another namespace`, pods[svc], strangerElsewhere, 53, false, "UDP");
    expect(`${svc} -> redis`, pods[svc], redis, 6379, svc !== "triage");
    for (const [other, o] of Object.entries(SERVICES)) {
      if (other === svc) continue;
      expect(`${svc} -> ${other}`, pods[svc], pods[other], o.port, other === "content" && svc !== "content");
    }
  }
  // The HTTP gateway: its own Deployment rules, reached only from the Ingress controller, and out
  // only to the three services.
  const gw = find("Deployment", "legwise-gateway");
  if (!gw) {
    fail("Deployment/legwise-gateway missing");
  } else {
    const id = "Deployment/legwise-gateway";
    const pod = gw.spec.template.spec;
    const c = pod.containers[0];
    const labels = gw.spec.template.metadata.labels || {};
    if (!selectorMatches(gw.spec.selector, labels)) fail(`${id}: selector does not match its pods`);
    if (pod.serviceAccountName !== "legwise-gateway") fail(`${id}: serviceAccountName`);
    checkSecurity(id, pod, c);
    if (c.readinessProbe?.grpc?.port !== 8081 || c.livenessProbe?.grpc?.service !== "liveness") {
      fail(`${id}: probes must be gRPC on the probe port 8081 (liveness: "liveness")`);
    }
    for (const kind of ["Service", "PodDisruptionBudget", "HorizontalPodAutoscaler", "Ingress"]) {
      if (!find(kind, "legwise-gateway")) fail(`${kind}/legwise-gateway missing`);
    }
    const gwPod = { ns, labels };
    const ingressController = { ns: "ingress-nginx", labels: { "app.kubernetes.io/name": "ingress-nginx" } };
    expect("ingress controller -> gateway", ingressController, gwPod, 8080, true);
    expect("unlabelled pod -> gateway", stranger, gwPod, 8080, false);
    expect("pod of another namespace -> gateway", strangerElsewhere, gwPod, 8080, false);
    expect("ingress controller -> gateway metrics", ingressController, gwPod, 9465, false);
    for (const [svc, want] of Object.entries(SERVICES)) {
      expect(`gateway -> ${svc}`, gwPod, pods[svc], want.port, true);
      expect(`${svc} -> gateway`, pods[svc], gwPod, 8080, false);
    }
    expect("gateway -> redis", gwPod, redis, 6379, false);
    expect("gateway -> internet", gwPod, internet, 443, false);
  }
  // The push sender: its own Deployment, reached by nobody (probes come from the node), out to
  // Redis and to public addresses on 443 only (APNs, FCM, Web Push services), never to private or
  // metadata ranges.
  const push = find("Deployment", "legwise-push");
  if (!push) {
    fail("Deployment/legwise-push missing");
  } else {
    const id = "Deployment/legwise-push";
    const pod = push.spec.template.spec;
    const c = pod.containers[0];
    const labels = push.spec.template.metadata.labels || {};
    if (!selectorMatches(push.spec.selector, labels)) fail(`${id}: selector does not match its pods`);
    if (pod.serviceAccountName !== "legwise-push") fail(`${id}: serviceAccountName`);
    checkSecurity(id, pod, c);
    const grpcPort = (c.ports || []).find((p) => p.name === "grpc")?.containerPort;
    const env = envOf(pod, c);
    // With TLS on, kubelet probes go to the plaintext probe port (health only).
    const probePort = env.LEGWISE_TLS_CERT_FILE !== undefined ? Number(env.LEGWISE_PROBE_PORT) : grpcPort;
    if (c.readinessProbe?.grpc?.port !== probePort || c.livenessProbe?.grpc?.service !== "liveness" || c.startupProbe?.grpc?.port !== probePort) {
      fail(`${id}: probes must be gRPC on port ${probePort} (liveness: "liveness", and a startup probe)`);
    }
    checkRedisSettings(id, pod, c, env);
    // Each sender loop keeps a core busy under load: no more loops than the CPU limit has cores.
    const loops = Number(env.LEGWISE_PUSH_LOOP_THREADS ?? 1);
    const cores = parseQuantity(String(c.resources?.limits?.cpu ?? "0"));
    if (!(Number.isInteger(loops) && loops >= 1 && loops <= Math.max(1, Math.floor(cores)))) {
      fail(`${id}: LEGWISE_PUSH_LOOP_THREADS=${env.LEGWISE_PUSH_LOOP_THREADS} with a CPU limit of ${cores} cores`);
    }
    const grace = parseDuration(env.LEGWISE_SHUTDOWN_GRACE ?? "20s") + parseDuration(env.LEGWISE_DRAIN_DELAY ?? "0");
    if (!((pod.terminationGracePeriodSeconds ?? 30) > grace)) fail(`${id}: terminationGracePeriodSeconds <= shutdown_grace + drain_delay`);
    for (const kind of ["PodDisruptionBudget", "HorizontalPodAutoscaler"]) {
      if (!find(kind, "legwise-push")) fail(`${kind}/legwise-push missing`);
    }
    if (push.spec.replicas !== undefined) fail(`${id}: sets spec.replicas although the HPA owns the count`);
    if (objects.some((o) => o.kind === "ServiceMonitor") && !objects.some((o) => o.kind === "PodMonitor" && selectorMatches(o.spec.selector, labels))) {
      fail(`${id}: monitored overlay without a PodMonitor for it`);
    }
    const pushPod = { ns, labels };
    expect("push -> internet", pushPod, internet, 443, true);
    expect("push -> internet on another port", pushPod, internet, 80, false);
    expect("push -> private address", pushPod, { ip: "10.1.2.3" }, 443, false);
    expect("push -> cloud metadata", pushPod, { ip: "169.254.169.254" }, 443, false);
    expect("push -> redis", pushPod, redis, 6379, true);
    expect("push -> kube-dns", pushPod, dns, 53, true, "UDP");
    expect("prometheus -> push metrics", prometheus, pushPod, 9466, monitored);
    expect("unlabelled pod -> push", stranger, pushPod, grpcPort, false);
    expect("client -> push", client, pushPod, grpcPort, false);
    for (const [svc, want] of Object.entries(SERVICES)) {
      // Content gives it the texts in a device's own locale.
      expect(`push -> ${svc}`, pushPod, pods[svc], want.port, svc === "content");
      expect(`${svc} -> push`, pods[svc], pushPod, grpcPort, false);
    }
  }
  if (redisLabels) {
    expect("prometheus -> redis", prometheus, redis, 6379, false);
    expect("client -> redis", client, redis, 6379, false);
    expect("unlabelled pod -> redis", stranger, redis, 6379, false);
    expect("redis -> internet", redis, internet, 443, false);
    expect("redis -> content", redis, pods.content, 50052, false);
  } else {
    expect("content -> managed redis on another port", pods.content, managedRedis, 22, false);
  }
  return fails;
}

// ---------------------------------------------------------------------------------------------

function mutations() {
  const dep = (objs, svc) => objs.find((o) => o.kind === "Deployment" && o.metadata.name === `legwise-${svc}`);
  const c0 = (objs, svc) => dep(objs, svc).spec.template.spec.containers[0];
  return {
    "typo in a securityContext field": (o) => {
      const sc = c0(o, "triage").securityContext;
      sc.readOnlyRootFileSystem = sc.readOnlyRootFilesystem;
      delete sc.readOnlyRootFilesystem;
    },
    "port as a string": (o) => { c0(o, "content").ports[0].containerPort = "50052"; },
    "liveness = readiness service": (o) => { c0(o, "reminder").livenessProbe.grpc.service = c0(o, "reminder").readinessProbe.grpc.service; },
    "exec liveness": (o) => { c0(o, "triage").livenessProbe = { exec: { command: ["true"] } }; },
    "privilege escalation": (o) => { c0(o, "content").securityContext.allowPrivilegeEscalation = true; },
    "no capability drop": (o) => { delete c0(o, "reminder").securityContext.capabilities; },
    "token mounted": (o) => { dep(o, "triage").spec.template.spec.automountServiceAccountToken = true; },
    "short grace period": (o) => { dep(o, "content").spec.template.spec.terminationGracePeriodSeconds = 20; },
    "no memory limit": (o) => { delete c0(o, "triage").resources.limits.memory; },
    "listen on loopback": (o) => {
      const cm = o.find((x) => x.kind === "ConfigMap" && x.metadata.name.startsWith("legwise-common"));
      cm.data.LEGWISE_LISTEN_HOST = "127.0.0.1";
    },
    "ClusterIP content Service": (o) => { o.find((x) => x.kind === "Service" && x.metadata.name === "legwise-content").spec.clusterIP = "10.0.0.10"; },
    "no PDB for reminder": (o) => { o.splice(o.findIndex((x) => x.kind === "PodDisruptionBudget" && x.metadata.name === "legwise-reminder"), 1); },
    "no default deny": (o) => {
      o.splice(o.findIndex((x) => x.kind === "NetworkPolicy" && Object.keys(x.spec.podSelector).length === 0 && !x.spec.egress), 1);
    },
    "triage may call reminder": (o) => {
      const p = o.find((x) => x.kind === "NetworkPolicy" && x.metadata.name === "legwise-triage");
      p.spec.egress.push({ to: [{ podSelector: { matchLabels: { "app.kubernetes.io/name": "legwise-reminder" } } }] });
    },
    "any pod may call content": (o) => {
      const p = o.find((x) => x.kind === "NetworkPolicy" && x.metadata.name === "legwise-content");
      p.spec.ingress[0].from.push({ podSelector: {} });
    },
    "insecure in production": (o) => {
      if (!PROD) throw new Error("production only");
      o.find((x) => x.kind === "ConfigMap" && x.metadata.name.startsWith("legwise-common")).data.LEGWISE_INSECURE = "true";
    },
    "replicas next to the HPA": (o) => { dep(o, "content").spec.replicas = 3; },
    "image of another name": (o) => { c0(o, "reminder").image = "docker.io/library/legwise-reminder:1"; },
    "no DNS": (o) => { o.splice(o.findIndex((x) => x.kind === "NetworkPolicy" && x.metadata.name === "legwise-allow-dns"), 1); },
    "metrics ports open to every namespace": (o) => {
      const p = o.find((x) => x.kind === "NetworkPolicy" && x.metadata.name === "legwise-allow-metrics-scrape");
      if (!p) throw new Error("production only");
      p.spec.ingress[0].from = [{ namespaceSelector: {} }];
    },
    "monitoring reaches the gRPC ports": (o) => {
      const p = o.find((x) => x.kind === "NetworkPolicy" && x.metadata.name === "legwise-allow-metrics-scrape");
      if (!p) throw new Error("production only");
      p.spec.ingress[0].ports.push({ protocol: "TCP", port: 50051 });
    },
    "push with more sender loops than cores": (o) => {
      dep(o, "push").spec.template.spec.containers[0].resources.limits.cpu = "1";
    },
    "push without the Redis password": (o) => {
      const d = dep(o, "push").spec.template.spec;
      d.volumes = d.volumes.filter((v) => v.name !== "redis-auth");
      d.containers[0].volumeMounts = d.containers[0].volumeMounts.filter((m) => m.name !== "redis-auth");
    },
    "push may reach private addresses": (o) => {
      const p = o.find((x) => x.kind === "NetworkPolicy" && x.metadata.name === "legwise-push");
      delete p.spec.egress[0].to[0].ipBlock.except;
    },
    "push without an HPA": (o) => { o.splice(o.findIndex((x) => x.kind === "HorizontalPodAutoscaler" && x.metadata.name === "legwise-push"), 1); },
    "an alert without a runbook": (o) => {
      const r = o.find((x) => x.kind === "PrometheusRule");
      if (!r) throw new Error("production only");
      delete r.spec.groups[0].rules[0].annotations.runbook_url;
    },
  };
}

const text = fs.readFileSync(args.file, "utf8");
const objects = YAML.parseAllDocuments(text).map((d) => d.toJSON()).filter(Boolean);
const namespace = objects.find((o) => o.kind === "Namespace")?.metadata.name;
const ctx = { namespace };

const failures = [...(await schemaErrors(objects)), ...check(objects, ctx)];
let passed = failures.length === 0;
console.log(`${args.overlay}: ${objects.length} objects, ${failures.length ? "FAILED" : "all checks passed"}`);
for (const f of failures) console.log(`  FAIL ${f}`);

if (args.selfTest) {
  let missed = 0;
  for (const [name, mutate] of Object.entries(mutations())) {
    const copy = structuredClone(objects);
    try {
      mutate(copy);
    } catch (e) {
      if (e.message === "production only") continue;
      console.log(`  self-test "${name}": could not apply (${e.message})`);
      missed++;
      continue;
    }
    const got = [...(await schemaErrors(copy)), ...check(copy, ctx)];
    if (got.length === 0) {
      console.log(`  FAIL self-test: breaking "${name}" went unnoticed`);
      missed++;
    }
  }
  console.log(`${args.overlay}: self-test ${missed ? `${missed} breaks unnoticed` : "every break was caught"}`);
  if (missed) passed = false;
}
process.exit(passed ? 0 : 1);
