#!/usr/bin/env python3
"""An independent CDS client signer for the gateway's tests (PyJWT + cryptography, not our C++).

Usage: cds_tokens.py OUT_DIR AUDIENCE ISSUER [KID_SUFFIX]
Writes OUT_DIR/jwks.json (the public keys: EC P-384 "ec-1", RSA 3072 "rsa-1"; with KID_SUFFIX
"old", "ec-old" and "rsa-old": fresh keys under other kids, for key rotation) and
OUT_DIR/tokens.json: {case: compact JWT}. Every token has its own jti unless the case says replay.
"""
import base64
import json
import os
import sys
import time
import uuid

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import RSAAlgorithm


def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def ec_public_jwk(public_key):
    n = public_key.public_numbers()
    return {"kty": "EC", "crv": "P-384",
            "x": b64url(n.x.to_bytes(48, "big")), "y": b64url(n.y.to_bytes(48, "big"))}


def main():
    out, aud, iss = sys.argv[1], sys.argv[2], sys.argv[3]
    suffix = sys.argv[4] if len(sys.argv) > 4 else "1"
    ec_kid, rsa_kid = "ec-" + suffix, "rsa-" + suffix
    ec_key = ec.generate_private_key(ec.SECP384R1())
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    rogue = ec.generate_private_key(ec.SECP384R1())
    # Built by hand, not with ECAlgorithm.to_jwk: Debian's PyJWT 2.6 drops leading zero bytes of
    # x and y (about one key in 128), while RFC 7518 6.2.1.2 requires the full 48 bytes.
    ec_jwk = ec_public_jwk(ec_key.public_key())
    ec_jwk.update(kid=ec_kid, use="sig", alg="ES384")
    rsa_jwk = json.loads(RSAAlgorithm.to_jwk(rsa_key.public_key()))
    rsa_jwk.update(kid=rsa_kid, use="sig", alg="RS384")
    with open(os.path.join(out, "jwks.json"), "w") as f:
        json.dump({"keys": [ec_jwk, rsa_jwk]}, f)

    now = int(time.time())

    def claims(**over):
        c = {"iss": iss, "sub": "client-1", "aud": aud, "exp": now + 240, "iat": now,
             "jti": str(uuid.uuid4())}
        c.update(over)
        return {k: v for k, v in c.items() if v is not None}

    def sign(c, key=ec_key, alg="ES384", kid=ec_kid):
        return jwt.encode(c, key, algorithm=alg, headers={"kid": kid, "typ": "JWT"})

    fixed = claims()
    tokens = {
        "es384_ok": sign(fixed),
        "es384_replay": sign(fixed),  # the same jti again
        "rs384_ok": sign(claims(), rsa_key, "RS384", rsa_kid),
        "aud_list_ok": sign(claims(aud=[aud, "https://other.example"])),
        "expired": sign(claims(exp=now - 120, iat=now - 300)),
        "exp_too_far": sign(claims(exp=now + 600)),
        "wrong_aud": sign(claims(aud=aud + "x")),
        "wrong_iss": sign(claims(iss="https://evil.example")),
        "unknown_kid": sign(claims(), kid="ec-unknown"),
        "rogue_key": sign(claims(), rogue, "ES384", ec_kid),
        "es256_alg": sign(claims(), ec.generate_private_key(ec.SECP256R1()), "ES256", ec_kid),
        "rs384_with_ec_kid": sign(claims(), rsa_key, "RS384", ec_kid),
        "no_jti": sign(claims(jti=None)),
        "no_exp": sign(claims(exp=None)),
        "none_alg": jwt.encode(claims(), None, algorithm="none", headers={"kid": ec_kid}),
        "feedback_ok": None,  # filled below: aud is the feedback URL
    }
    tokens["feedback_ok"] = sign(claims(aud=aud + "/feedback"))
    # The encounter-start service has its own URL, so its own aud.
    tokens["encounter_ok"] = sign(claims(aud=aud + "-encounter"))
    tokens["encounter_other_hook"] = sign(claims(aud=aud + "-encounter"))
    tokens["patient_view_aud"] = sign(claims())  # the patient-view URL as aud
    with open(os.path.join(out, "tokens.json"), "w") as f:
        json.dump(tokens, f)


if __name__ == "__main__":
    main()
