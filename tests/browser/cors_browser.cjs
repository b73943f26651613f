// Browser test of legwise-gateway: Debian's chromium, headless, driven by playwright-core.
// Two pages are served from two origins on loopback. The allowed one (in --cors_allowed_origins)
// calls POST /v1/triage:assess with fetch and opens the nudge stream with EventSource; the other
// one's calls must be refused by the browser (no CORS headers for it) and by the gateway (403).
//
// Usage: node cors_browser.cjs GATEWAY_PORT ALLOWED_PORT OTHER_PORT
// (needs playwright-core on NODE_PATH and /usr/bin/chromium). Prints one JSON line per check and
// exits 0 only when all pass.
const http = require("http");
const { chromium } = require("playwright-core");

const [gatewayPort, allowedPort, otherPort] = process.argv.slice(2).map(Number);
const gateway = `http://127.0.0.1:${gatewayPort}`;

const page = `<!doctype html><html><head><meta charset="utf-8"><title>legwise</title></head><body>
<script>
window.assess = async () => {
  try {
    const r = await fetch("${gateway}/v1/triage:assess", {
      method: "POST",
      headers: {"Content-Type": "application/json", "X-Request-Id": "browser-test-1"},
      body: JSON.stringify({pregnancy: {gestationalAgeWeeks: 30},
                            symptoms: [{kind: "SYMPTOM_KIND_CHEST_PAIN"}]}),
    });
    const body = await r.json();
    return {ok: true, status: r.status, urgency: body.urgency};
  } catch (e) {
    return {ok: false, error: String(e)};
  }
};
window.stream = () => new Promise((resolve) => {
  const es = new EventSource("${gateway}/v1/users/ana/nudges:stream");
  const timer = setTimeout(() => { es.close(); resolve({open: false, error: "timeout"}); }, 5000);
  es.onopen = () => { clearTimeout(timer); es.close(); resolve({open: true}); };
  es.onerror = () => { clearTimeout(timer); es.close(); resolve({open: false, error: "error"}); };
});
</script></body></html>`;

function serve(port) {
  return new Promise((resolve) => {
    const s = http.createServer((req, res) => {
      res.writeHead(200, {"Content-Type": "text/html; charset=utf-8"});
      res.end(page);
    });
    s.listen(port, "127.0.0.1", () => resolve(s));
  });
}

(async () => {
  const servers = [await serve(allowedPort), await serve(otherPort)];
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  let failed = 0;
  const check = (name, ok, detail) => {
    console.log(JSON.stringify({check: name, ok, detail}));
    if (!ok) failed++;
  };
  try {
    const ctx = await browser.newContext();
    const allowed = await ctx.newPage();
    await allowed.goto(`http://127.0.0.1:${allowedPort}/`);
    const a = await allowed.evaluate(() => window.assess());
    check("allowed origin: assess answers", a.ok && a.status === 200 &&
          a.urgency === "URGENCY_EMERGENCY", a);
    const s = await allowed.evaluate(() => window.stream());
    check("allowed origin: nudge stream opens", s.open === true, s);

    const other = await ctx.newPage();
    await other.goto(`http://127.0.0.1:${otherPort}/`);
    const b = await other.evaluate(() => window.assess());
    check("other origin: assess refused by the browser", b.ok === false, b);
    const t = await other.evaluate(() => window.stream());
    check("other origin: nudge stream refused", t.open === false, t);
  } catch (e) {
    check("browser run", false, String(e));
  } finally {
    await browser.close();
    servers.forEach((s) => s.close());
  }
  process.exit(failed === 0 ? 0 : 1);
})();
