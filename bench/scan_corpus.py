#!/usr/bin/env python3
"""Generate the labelled scanner corpus in bench-corpus/scan/.

Every secret-shaped value is generated here, at random (fixed seed, so the
corpus is reproducible), in the shape of a real provider's token; none was
ever issued by a provider. Files mix true secrets (listed in labels.tsv as
`path<TAB>line<TAB>family`) with hard negatives that scanners commonly flag:
UUIDs, git SHAs, lock-file hashes, npm integrity strings, go.sum lines, data
URIs, minified JS, SOPS ENC[...] values, age recipients, SSH public keys,
certificates, documentation examples, placeholders and template references.

Run: python3 bench/scan_corpus.py bench-corpus/scan
"""
import base64
import hashlib
import os
import random
import string
import sys

rng = random.Random(5150)
ALNUM = string.ascii_letters + string.digits
B64 = ALNUM + "+/"
URL = ALNUM + "_-"
HEX = "0123456789abcdef"
UPPER = string.ascii_uppercase + string.digits


def r(chars, n):
    while True:
        s = "".join(rng.choice(chars) for _ in range(n))
        has_digits = any(c.isdigit() for c in chars)
        has_cases = any(c.islower() for c in chars) and any(c.isupper() for c in chars)
        if n < 8 or chars == HEX:
            return s
        if has_digits and not any(c.isdigit() for c in s):
            continue
        if has_cases and not (any(c.islower() for c in s) and any(c.isupper() for c in s)):
            continue
        return s


def uuid():
    h = r(HEX, 32)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def b32(n):
    return "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(n))


def pem_body(lines=12):
    return "\n".join(r(B64, 64) for _ in range(lines))


def password():
    words = ["Tr0ub4dor", "c0rrect", "H0rse", "Bl4ck", "Sp1der", "Qu1ck", "M0nkey", "Dr4gon", "S1lver", "W1nter"]
    return rng.choice(words) + rng.choice("!@#%&*") + str(rng.randrange(10, 9999)) + r(ALNUM, 4)


# family -> generator of a fresh secret value
FAMILIES = {
    "aws-access-key": lambda: "AKIA" + b32(16),
    "aws-secret-key": lambda: r(B64, 40),
    "github-pat": lambda: "ghp_" + r(ALNUM, 36),
    "github-fine-grained": lambda: "github_pat_" + r(ALNUM, 22) + "_" + r(ALNUM, 59),
    "github-app": lambda: "ghs_" + r(ALNUM, 36),
    "gitlab-pat": lambda: "glpat-" + r(URL, 20),
    "slack-bot": lambda: f"xoxb-{rng.randrange(10**11, 10**12)}-{rng.randrange(10**12, 10**13)}-{r(ALNUM, 24)}",
    "slack-webhook": lambda: f"https://hooks.slack.com/services/T{r(UPPER, 8)}/B{r(UPPER, 10)}/{r(ALNUM, 24)}",
    "stripe-secret": lambda: "sk_live_" + r(ALNUM, 24),
    "stripe-restricted": lambda: "rk_live_" + r(ALNUM, 24),
    "gcp-api-key": lambda: "AIza" + r(URL, 35),
    "openai": lambda: "sk-proj-" + r(URL, 48) + "T3BlbkFJ" + r(URL, 48),
    "anthropic": lambda: "sk-ant-api03-" + r(URL, 93) + "AA",
    "huggingface": lambda: "hf_" + r(string.ascii_letters, 34),
    "groq": lambda: "gsk_" + r(ALNUM, 52),
    "npm": lambda: "npm_" + r(ALNUM, 36),
    "pypi": lambda: "pypi-AgEIcHlwaS5vcmc" + r(URL, 60),
    "sendgrid": lambda: "SG." + r(URL, 22) + "." + r(URL, 43),
    "twilio": lambda: r(HEX, 32),
    "mailgun": lambda: "key-" + r(HEX, 32),
    "shopify": lambda: "shpat_" + r(HEX, 32),
    "digitalocean": lambda: "dop_v1_" + r(HEX, 64),
    "doppler": lambda: "dp.pt." + r(ALNUM, 43),
    "databricks": lambda: "dapi" + r(HEX, 32),
    "vault": lambda: "hvs." + r(URL, 95),
    "docker-hub": lambda: "dckr_pat_" + r(URL, 27),
    "discord-webhook": lambda: f"https://discord.com/api/webhooks/{rng.randrange(10**17, 10**18)}/{r(URL, 68)}",
    "telegram": lambda: f"{rng.randrange(10**8, 10**9)}:AA{r(URL, 33)}",
    "jwt": lambda: "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." + base64.urlsafe_b64encode(('{"sub":"' + r(ALNUM, 12) + '","iat":' + str(rng.randrange(10**9, 2 * 10**9)) + "}").encode()).decode().rstrip("=") + "." + r(URL, 43),
    "age-secret-key": lambda: "AGE-SECRET-KEY-1" + "".join(rng.choice("QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L") for _ in range(58)),
    "azure-storage": lambda: r(B64, 86) + "==",
    "new-relic": lambda: "NRAK-" + r(UPPER, 27),
    "sentry": lambda: "sntryu_" + r(HEX, 64),
    "grafana": lambda: "glsa_" + r(ALNUM, 32) + "_" + r(HEX, 8),
    "linear": lambda: "lin_api_" + r(ALNUM, 40),
    "datadog": lambda: r(HEX, 32),
    "heroku": lambda: "HRKU-AA" + r(URL, 58),
    "postgres-url": lambda: r(ALNUM, 20),
    "mongodb-url": lambda: r(ALNUM, 24),
    "redis-url": lambda: r(ALNUM, 18),
    "generic-password": password,
    "generic-api-key": lambda: r(ALNUM, 32),
}

files = {}  # path -> list of lines
labels = []  # (path, line, family)


def add(path, line, family=None):
    files.setdefault(path, []).append(line)
    if family:
        labels.append((path, len(files[path]), family, len(files[path])))


def extend_last_label(path):
    """The last label of `path` spans to the file's current last line (PEM blocks)."""
    for i in range(len(labels) - 1, -1, -1):
        if labels[i][0] == path:
            p, s, fam, _ = labels[i]
            labels[i] = (p, s, fam, len(files[path]))
            return


def blank(path, n=1):
    for _ in range(n):
        add(path, "")


# ------------------------------------------------------------ positives in context
def env_file(path, entries):
    add(path, "# service configuration")
    for name, fam, fmt in entries:
        add(path, fmt.format(name=name, v=FAMILIES[fam]()), fam)
        add(path, f"{name}_TIMEOUT=30")


for i in range(3):
    env_file(f"services/api{i}/.env", [
        ("AWS_ACCESS_KEY_ID", "aws-access-key", "{name}={v}"),
        ("AWS_SECRET_ACCESS_KEY", "aws-secret-key", "{name}={v}"),
        ("GITHUB_TOKEN", "github-pat", "{name}={v}"),
        ("STRIPE_SECRET_KEY", "stripe-secret", "{name}={v}"),
        ("OPENAI_API_KEY", "openai", '{name}="{v}"'),
        ("ANTHROPIC_API_KEY", "anthropic", "{name}={v}"),
        ("SENDGRID_API_KEY", "sendgrid", "{name}={v}"),
        ("DATADOG_API_KEY", "datadog", "{name}={v}"),
        ("TWILIO_AUTH_TOKEN", "twilio", "{name}={v}"),
        ("DB_PASSWORD", "generic-password", "{name}={v}"),
    ])
    add(f"services/api{i}/.env", "LOG_LEVEL=debug")
    add(f"services/api{i}/.env", "DATABASE_URL=postgres://app:${DB_PASSWORD}@db:5432/app")

# python settings
p = "app/settings.py"
add(p, "import os")
add(p, "from pathlib import Path")
add(p, "BASE_DIR = Path(__file__).resolve().parent.parent")
add(p, f'SECRET_KEY = "{FAMILIES["generic-api-key"]()}"', "generic-api-key")
add(p, "DEBUG = False")
add(p, 'ALLOWED_HOSTS = ["api.internal"]')
add(p, f'DATABASES = {{"default": {{"ENGINE": "django.db.backends.postgresql", "PASSWORD": "{password()}"}}}}', "generic-password")
add(p, 'EMAIL_HOST_PASSWORD = os.environ["EMAIL_HOST_PASSWORD"]')
add(p, f'SLACK_WEBHOOK = "{FAMILIES["slack-webhook"]()}"', "slack-webhook")
add(p, f'HF_TOKEN = "{FAMILIES["huggingface"]()}"', "huggingface")
add(p, 'STRIPE_PUBLISHABLE_KEY = "pk_live_' + r(ALNUM, 24) + '"')
add(p, "SESSION_COOKIE_AGE = 1209600")
add(p, f'CELERY_BROKER_URL = "redis://:{FAMILIES["redis-url"]()}@cache.internal:6379/0"', "redis-url")
add(p, 'password_reset_timeout = 259200')
add(p, 'token_type = "bearer"')

# node config
p = "web/src/config.js"
add(p, "export const config = {")
add(p, f"  githubToken: '{FAMILIES['github-fine-grained']()}',", "github-fine-grained")
add(p, f"  mongoUrl: 'mongodb+srv://svc:{FAMILIES['mongodb-url']()}@cluster0.abcde.mongodb.net/prod',", "mongodb-url")
add(p, "  apiBase: process.env.API_BASE || 'https://api.example.com',")
add(p, "  apiKey: process.env.API_KEY,")
add(p, f"  groqKey: \"{FAMILIES['groq']()}\",", "groq")
add(p, "  retries: 3,")
add(p, "};")
add(p, "const uuid = '" + uuid() + "';")
add(p, "const commit = '" + r(HEX, 40) + "';")

# yaml / k8s / compose
p = "deploy/docker-compose.yml"
add(p, "services:")
add(p, "  db:")
add(p, "    image: postgres:16")
add(p, "    environment:")
add(p, f"      POSTGRES_PASSWORD: {password()}", "generic-password")
add(p, "      POSTGRES_USER: app")
add(p, "  worker:")
add(p, "    environment:")
add(p, f"      DATABASE_URL: postgresql://worker:{FAMILIES['postgres-url']()}@db:5432/app", "postgres-url")
add(p, "      REDIS_PASSWORD: ${REDIS_PASSWORD}")
add(p, f"      NPM_TOKEN: {FAMILIES['npm']()}", "npm")
add(p, "      IMAGE_DIGEST: sha256:" + r(HEX, 64))

p = "deploy/k8s/secret.yaml"
add(p, "apiVersion: v1")
add(p, "kind: Secret")
add(p, "metadata:")
add(p, "  name: app")
add(p, "stringData:")
add(p, f"  vault-token: {FAMILIES['vault']()}", "vault")
add(p, f"  docker-token: {FAMILIES['docker-hub']()}", "docker-hub")
add(p, f"  sentry-auth-token: {FAMILIES['sentry']()}", "sentry")
add(p, "  api-token: {{ .Values.apiToken }}")
add(p, "  password: {{ required \"password\" .Values.password }}")

p = "infra/main.tf"
add(p, 'provider "aws" {')
add(p, '  region     = "eu-west-1"')
add(p, f'  access_key = "{FAMILIES["aws-access-key"]()}"', "aws-access-key")
add(p, f'  secret_key = "{FAMILIES["aws-secret-key"]()}"', "aws-secret-key")
add(p, "}")
add(p, 'resource "random_password" "db" {')
add(p, "  length = 32")
add(p, "}")
add(p, "  password = random_password.db.result")
add(p, f'  digitalocean_token = "{FAMILIES["digitalocean"]()}"', "digitalocean")
add(p, '  db_password = var.db_password')

p = "ci/.gitlab-ci.yml"
add(p, "variables:")
add(p, f"  GITLAB_TOKEN: {FAMILIES['gitlab-pat']()}", "gitlab-pat")
add(p, "  DOCKER_DRIVER: overlay2")
add(p, "  CI_JOB_TOKEN: $CI_JOB_TOKEN")
add(p, "deploy:")
add(p, "  script:")
add(p, f"    - curl -H \"Authorization: Bearer {FAMILIES['jwt']()}\" https://deploy.internal/hook", "jwt")
add(p, f"    - pip install --index-url https://__token__:{FAMILIES['pypi']()}@upload.pypi.org/simple/ pkg", "pypi")

p = "ci/github/workflow.yml"
add(p, "jobs:")
add(p, "  build:")
add(p, "    steps:")
add(p, "      - run: echo ${{ secrets.GITHUB_TOKEN }}")
add(p, f"      - run: gh auth login --with-token <<< {FAMILIES['github-app']()}", "github-app")
add(p, "        env:")
add(p, "          NODE_AUTH_TOKEN: ${{ secrets.NPM_TOKEN }}")

p = "scripts/notify.sh"
add(p, "#!/bin/sh")
add(p, "set -eu")
add(p, f"curl -X POST -d @payload.json {FAMILIES['discord-webhook']()}", "discord-webhook")
add(p, f"curl https://api.telegram.org/bot{FAMILIES['telegram']()}/sendMessage -d text=done", "telegram")
add(p, f"export SLACK_BOT_TOKEN={FAMILIES['slack-bot']()}", "slack-bot")
add(p, f"export LINEAR_API_KEY={FAMILIES['linear']()}", "linear")
add(p, 'export PATH="$HOME/.local/bin:$PATH"')
add(p, "echo \"build $(git rev-parse HEAD)\"")

p = "config/app.json"
add(p, "{")
add(p, f'  "shopifyToken": "{FAMILIES["shopify"]()}",', "shopify")
add(p, f'  "mailgunKey": "{FAMILIES["mailgun"]()}",', "mailgun")
add(p, f'  "dopplerToken": "{FAMILIES["doppler"]()}",', "doppler")
add(p, f'  "databricksToken": "{FAMILIES["databricks"]()}",', "databricks")
add(p, f'  "grafanaToken": "{FAMILIES["grafana"]()}",', "grafana")
add(p, f'  "newRelicKey": "{FAMILIES["new-relic"]()}",', "new-relic")
add(p, f'  "herokuKey": "{FAMILIES["heroku"]()}",', "heroku")
add(p, f'  "gcpKey": "{FAMILIES["gcp-api-key"]()}",', "gcp-api-key")
add(p, '  "requestId": "' + uuid() + '",')
add(p, '  "build": "' + r(HEX, 40) + '",')
add(p, '  "publicKey": "' + "age1" + "".join(rng.choice("qpzry9x8gf2tvdw0s3jn54khce6mua7l") for _ in range(58)) + '"')
add(p, "}")

p = "config/storage.properties"
add(p, f"azure.connection=DefaultEndpointsProtocol=https;AccountName=acmeprod;AccountKey={FAMILIES['azure-storage']()};EndpointSuffix=core.windows.net", "azure-storage")
add(p, f"stripe.restricted={FAMILIES['stripe-restricted']()}", "stripe-restricted")
add(p, f"spring.datasource.password={password()}", "generic-password")
add(p, "spring.datasource.username=app")
add(p, "spring.datasource.url=jdbc:postgresql://db:5432/app")

p = "keys/deploy_key"
add(p, "-----BEGIN OPENSSH PRIVATE KEY-----", "private-key")
for line in pem_body(6).split("\n"):
    add(p, line)
add(p, "-----END OPENSSH PRIVATE KEY-----")
extend_last_label(p)

p = "keys/server.key"
add(p, "-----BEGIN RSA PRIVATE KEY-----", "private-key")
for line in pem_body(20).split("\n"):
    add(p, line)
add(p, "-----END RSA PRIVATE KEY-----")
extend_last_label(p)

p = "keys/age.txt"
add(p, "# created: 2026-01-01T00:00:00Z")
add(p, "# public key: age1" + "".join(rng.choice("qpzry9x8gf2tvdw0s3jn54khce6mua7l") for _ in range(58)))
add(p, FAMILIES["age-secret-key"](), "age-secret-key")

p = "docs/notes.md"
add(p, "# Runbook")
add(p, "The staging token was pasted here by mistake:")
add(p, "")
add(p, f"    {FAMILIES['github-pat']()}", "github-pat")
add(p, "")
add(p, f"and the old redis password `{FAMILIES['generic-api-key']()}` is still in use.", None)
# the line above has a secret without any keyword: a deliberately hard positive
labels.append((p, len(files[p]), "generic-api-key-no-keyword", len(files[p])))

# SOPS file with a plaintext leak
enc = lambda t="str": f"ENC[AES256_GCM,data:{r(B64, 24)}=,iv:{r(B64, 43)}=,tag:{r(B64, 22)}==,type:{t}]"
age_rcpt = "age1" + "".join(rng.choice("qpzry9x8gf2tvdw0s3jn54khce6mua7l") for _ in range(58))
p = "secrets/prod.enc.yaml"
add(p, "database:")
add(p, f"    password: {enc()}")
add(p, f"    user: {enc()}")
add(p, f"    api_token: {FAMILIES['generic-api-key']()}", "sops-plaintext")
add(p, f"    port: {enc('int')}")
add(p, "sops:")
add(p, "    age:")
add(p, f"        - recipient: {age_rcpt}")
add(p, "          enc: |")
add(p, "            -----BEGIN AGE ENCRYPTED FILE-----")
for _ in range(4):
    add(p, "            " + r(B64, 64))
add(p, "            -----END AGE ENCRYPTED FILE-----")
add(p, '    lastmodified: "2026-03-01T10:00:00Z"')
add(p, f"    mac: {enc()}")
add(p, "    unencrypted_suffix: _unencrypted")
add(p, "    version: 3.9.0")

p = "secrets/staging.enc.json"
add(p, "{", "sops-unencrypted-file")
add(p, f'  "stripe_key": "{FAMILIES["stripe-secret"]()}",', "stripe-secret")
add(p, '  "region": "eu-west-1"')
add(p, "}")

# ------------------------------------------------------------ hard negatives
p = "secrets/dev.enc.yaml"
add(p, "app:")
for k in ["db_password", "api_key", "session_secret", "smtp_password", "jwt_secret"]:
    add(p, f"    {k}: {enc()}")
add(p, "    replicas_unencrypted: 3")
add(p, "sops:")
add(p, "    age:")
add(p, f"        - recipient: {age_rcpt}")
add(p, "          enc: |")
add(p, "            -----BEGIN AGE ENCRYPTED FILE-----")
for _ in range(4):
    add(p, "            " + r(B64, 64))
add(p, "            -----END AGE ENCRYPTED FILE-----")
add(p, f"    mac: {enc()}")
add(p, "    version: 3.9.0")

p = ".sops.yaml"
add(p, "creation_rules:")
add(p, "  - path_regex: secrets/.*\\.enc\\.yaml$")
add(p, f"    age: {age_rcpt},{'age1' + ''.join(rng.choice('qpzry9x8gf2tvdw0s3jn54khce6mua7l') for _ in range(58))}")

p = "Cargo.lock"
add(p, "version = 4")
for i in range(40):
    add(p, "")
    add(p, "[[package]]")
    add(p, f'name = "crate{i}"')
    add(p, f'version = "1.{i}.0"')
    add(p, 'source = "registry+https://github.com/rust-lang/crates.io-index"')
    add(p, f'checksum = "{r(HEX, 64)}"')

p = "web/package-lock.json"
add(p, "{")
add(p, '  "lockfileVersion": 3,')
add(p, '  "packages": {')
for i in range(40):
    raw = bytes(rng.randrange(256) for _ in range(64))
    add(p, f'    "node_modules/pkg{i}": {{')
    add(p, f'      "version": "2.{i}.1",')
    add(p, f'      "resolved": "https://registry.npmjs.org/pkg{i}/-/pkg{i}-2.{i}.1.tgz",')
    add(p, f'      "integrity": "sha512-{base64.b64encode(raw).decode()}"')
    add(p, "    },")
add(p, "  }")
add(p, "}")

p = "web/yarn.lock"
for i in range(25):
    raw = bytes(rng.randrange(256) for _ in range(64))
    add(p, f'"dep{i}@^1.0.0":')
    add(p, f'  version "1.0.{i}"')
    add(p, f'  resolved "https://registry.yarnpkg.com/dep{i}/-/dep{i}-1.0.{i}.tgz#{r(HEX, 40)}"')
    add(p, f"  integrity sha512-{base64.b64encode(raw).decode()}")
    add(p, "")

p = "go.sum"
for i in range(40):
    raw = bytes(rng.randrange(256) for _ in range(32))
    add(p, f"github.com/org{i}/mod{i} v1.{i}.0 h1:{base64.b64encode(raw).decode()}")

p = "web/src/logo.js"
png = base64.b64encode(bytes(rng.randrange(256) for _ in range(300))).decode()
add(p, f'export const logo = "data:image/png;base64,{png}";')
add(p, f'export const icon = {{ src: "data:image/svg+xml;base64,{base64.b64encode(b"<svg xmlns=1>" + bytes(rng.randrange(256) for _ in range(90))).decode()}" }};')

p = "web/dist/app.min.js"
chunks = []
for i in range(300):
    chunks.append(f"var {r(string.ascii_letters, 2)}=function(e,t){{return e[\"{r(ALNUM, 12)}\"]+t.{r(string.ascii_lowercase, 6)}(\"{r(URL, 24)}\")}};")
add(p, "".join(chunks))

p = "docs/aws.md"
add(p, "# Configure credentials")
add(p, "Use the example values from the AWS documentation:")
add(p, "")
add(p, "    aws_access_key_id = AKIAIOSFODNN7EXAMPLE")
add(p, "    aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
add(p, "")
add(p, "GitHub tokens look like `ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx`.")
add(p, "Set `STRIPE_SECRET_KEY=sk_live_your_key_here` in production.")
add(p, "Set `OPENAI_API_KEY=<your-openai-key>`.")
add(p, "Connection string: `postgres://user:password@localhost:5432/db`")
add(p, "Slack: `xoxb-your-bot-token`")
add(p, "api_key: YOUR_API_KEY_HERE")
add(p, "password: changeme")
add(p, "token = \"<token>\"")

p = "docs/templates.env"
add(p, "DB_PASSWORD=${DB_PASSWORD}")
add(p, "API_KEY={{ api_key }}")
add(p, "SECRET_KEY=%(secret_key)s")
add(p, "AUTH_TOKEN=$(vault read -field=token secret/app)")
add(p, "GITHUB_TOKEN=${{ secrets.GITHUB_TOKEN }}")
add(p, "STRIPE_KEY=<%= ENV['STRIPE_KEY'] %>")
add(p, "PASSWORD=")
add(p, "TOKEN=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx")
add(p, "SECRET=********")

p = "src/crypto_test.rs"
add(p, "#[test]")
add(p, "fn sha256_vectors() {")
for i in range(10):
    add(p, f'    let digest = "{r(HEX, 64)}";')
    add(p, f'    let expected_hash = hex!("{r(HEX, 64)}");')
add(p, f'    let key_id = "{uuid()}";')
add(p, f'    let commit_sha = "{r(HEX, 40)}";')
add(p, '    let token = next_token(&mut lexer);')
add(p, '    let password = prompt_password("Password: ")?;')
add(p, '    let api_key = std::env::var("API_KEY")?;')
add(p, '    let secret_key = config.secret_key.clone();')
add(p, '    let key = cache_key(&request);')
add(p, "}")

p = "src/models.py"
add(p, "class User(Model):")
add(p, "    password = models.CharField(max_length=128)")
add(p, "    password_hash = \"$2b$12$" + r("./" + ALNUM, 53) + "\"")
add(p, "    api_key_header = \"X-API-Key\"")
add(p, "    token_url = \"https://oauth2.googleapis.com/token\"")
add(p, "    secret_name = \"prod/app/db\"")
add(p, "    auth_method = \"client_secret_basic\"")
add(p, f"    id = \"{uuid()}\"")
add(p, "    def check(self, password):")
add(p, "        return verify(password, self.password_hash)")

p = "keys/id_ed25519.pub"
add(p, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI" + r(B64, 43) + " deploy@ci")
p = "keys/authorized_keys"
for i in range(5):
    add(p, "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ" + r(B64, 340) + f" user{i}@host")

p = "keys/ca.pem"
add(p, "-----BEGIN CERTIFICATE-----")
for line in pem_body(15).split("\n"):
    add(p, line)
add(p, "-----END CERTIFICATE-----")
add(p, "-----BEGIN PUBLIC KEY-----")
for line in pem_body(6).split("\n"):
    add(p, line)
add(p, "-----END PUBLIC KEY-----")

p = "web/public/index.html"
add(p, "<html><head>")
add(p, f'<script src="https://www.google.com/recaptcha/api.js?render=6Le{r(URL, 37)}"></script>')
add(p, f'<script>window.SENTRY_DSN = "https://{r(HEX, 32)}@o{rng.randrange(10**5, 10**6)}.ingest.sentry.io/{rng.randrange(10**6, 10**7)}";</script>')
add(p, f'<link rel="stylesheet" href="/app.css?v={r(HEX, 20)}" integrity="sha384-{base64.b64encode(bytes(rng.randrange(256) for _ in range(48))).decode()}">')
add(p, "</head></html>")

p = "data/ids.csv"
add(p, "id,commit,created")
for i in range(60):
    add(p, f"{uuid()},{r(HEX, 40)},2026-01-{(i % 28) + 1:02d}")

p = "src/i18n/en.json"
add(p, "{")
add(p, '  "login.password": "Password",')
add(p, '  "login.password_hint": "At least 12 characters",')
add(p, '  "token.expired": "Your session token has expired",')
add(p, '  "api_key.label": "API key",')
add(p, '  "secret.copy": "Copy secret to clipboard"')
add(p, "}")

# ------------------------------------------------------------ checksummed tokens in the issue's contexts
# GitHub and npm tokens with their documented checksum (base62 CRC-32 of the
# 30-character body), in the embedding contexts issue 16 lists; decoys of the
# same shape that no scanner may report. Own RNG: the files above stay as
# they were.
crng = random.Random(1616)
B62 = string.digits + string.ascii_uppercase + string.ascii_lowercase


def crc_token(prefix):
    import zlib
    body = "".join(crng.choice(B62) for _ in range(30))
    n = zlib.crc32(body.encode())
    tail = ""
    for _ in range(6):
        tail = B62[n % 62] + tail
        n //= 62
    return prefix + body + tail


CONTEXTS = [
    ("src/checksummed/config.go", 'var apiToken string = "{v}"'),
    ("src/checksummed/settings.xml", "<apiToken>{v}</apiToken>"),
    ("src/checksummed/Makefile", "GITHUB_TOKEN ?= {v}"),
    ("src/checksummed/Makefile", "NPM_TOKEN ::= {v}"),
    ("src/checksummed/boot.php", '$token .= "{v}";'),
    ("src/checksummed/Main.java", 'System.setProperty("GH_TOKEN", "{v}");'),
    ("src/checksummed/env.json", '{{"env": "A=1\\nGH_TOKEN={v}\\nB=2"}}'),
    ("src/checksummed/deploy.sh", "curl -H 'Authorization: token {v}' https://api.github.com/user"),
    ("src/checksummed/.npmrc", "//registry.npmjs.org/:_authToken={v}"),
]
for i, (path, fmt) in enumerate(CONTEXTS):
    prefix = "npm_" if "npm" in path or "NPM" in fmt else ["ghp_", "gho_", "ghu_", "ghs_", "ghr_"][i % 5]
    add(path, fmt.format(v=crc_token(prefix)), "npm" if prefix == "npm_" else "github")
# near misses: one character short, a placeholder, a prefix in a word
p = "src/checksummed/notes.md"
add(p, "Tokens look like `ghp_` followed by 36 characters, e.g. `ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx`.")
add(p, "short = " + crc_token("ghp_")[:-1])
add(p, "see the sighp_handler and npm_config_cache settings")

# ------------------------------------------------------------ embedding contexts (issue 16)
# Every family below in every context of issue 16's table, each value freshly
# generated in the vendor's documented shape; one file per context under
# contexts/, so bench/scan_score.py --by-dir gives the recall per context. Each
# file also holds near misses in the same syntax (references, placeholders,
# hashes under non-secret names), which are false positives if flagged.
xrng = random.Random(1717)


def xr(chars, n):
    while True:
        s = "".join(xrng.choice(chars) for _ in range(n))
        if n < 8 or any(c.isdigit() for c in s) or not any(c.isdigit() for c in chars):
            if chars in (ALNUM, B64, URL) and not (any(c.islower() for c in s) and any(c.isupper() for c in s)):
                continue
            return s


def xuuid():
    h = xr(HEX, 32)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def xpassword():
    words = ["Gl4cier", "Ember", "N0rth", "Qu4rtz", "Fj0rd", "Ca5cade", "T1mber", "Mar1ne"]
    return xrng.choice(words) + xrng.choice("!#%&*") + str(xrng.randrange(10, 9999)) + xr(ALNUM, 5)


# family, (camelCase name, UPPER_NAME), value generator
XFAMILIES = [
    ("generic-api-key", ("apiToken", "API_TOKEN"), lambda: xr(ALNUM, 32)),
    ("datadog", ("datadogApiKey", "DD_API_KEY"), lambda: xr(HEX, 32)),
    ("twilio", ("twilioAuthToken", "TWILIO_AUTH_TOKEN"), lambda: xr(HEX, 32)),
    ("aws-secret-key", ("awsSecretAccessKey", "AWS_SECRET_ACCESS_KEY"), lambda: xr(B64, 40)),
    ("heroku", ("herokuApiKey", "HEROKU_API_KEY"), xuuid),
    ("sumologic", ("sumoAccessKey", "SUMO_ACCESS_KEY"), lambda: xr(ALNUM, 64)),
    ("hubspot", ("hubspotToken", "HUBSPOT_TOKEN"), lambda: "pat-na1-" + xuuid()),
    ("sourcegraph", ("srcAccessToken", "SRC_ACCESS_TOKEN"), lambda: "sgp_" + xr(HEX, 16) + "_" + xr(HEX, 40)),
    ("openshift", ("openshiftToken", "OPENSHIFT_TOKEN"), lambda: "sha256~" + xr(URL, 43)),
    ("mailgun", ("mailgunPublicKey", "MAILGUN_PUBLIC_KEY"), lambda: "pubkey-" + xr(HEX, 32)),
    ("lob", ("lobPublishableKey", "LOB_PUBLISHABLE_KEY"), lambda: "test_pub_" + xr(HEX, 31)),
    ("elevenlabs", ("elevenLabsKey", "ELEVENLABS_API_KEY"), lambda: "sk_" + xr(HEX, 48)),
    ("alibaba-sts", ("stsToken", "ALIBABA_STS_TOKEN"), lambda: "STS." + xr(ALNUM, 28)),
    ("doppler", ("dopplerToken", "DOPPLER_TOKEN"), lambda: "dp.ct." + xr(ALNUM, 43)),
    ("mailersend", ("mailersendToken", "MAILERSEND_API_TOKEN"), lambda: "mlsn." + xr(HEX, 64)),
    ("prefixed-hex", ("serviceToken", "SERVICE_TOKEN"), lambda: "svc_" + xr(HEX, 40)),
    ("generic-password", ("dbPassword", "DB_PASSWORD"), xpassword),
]

# context -> (path, list of line templates for one value; {c} camel name,
# {u} UPPER name, {v} value). The labelled line is the one holding {v}, or
# the whole element for a multi-line template.
XCONTEXTS = {
    "go-typed": ("contexts/go_typed/config.go", ['var {c} string = "{v}"']),
    "go-typed-const": ("contexts/go_typed/const.go", ['const {c} string = "{v}"']),
    "xml-multiline": ("contexts/xml/settings.xml", ["<{c}>", "    {v}", "</{c}>"]),
    "make-?=": ("contexts/make/Makefile", ["{u} ?= {v}"]),
    "make-::=": ("contexts/make/defs.mk", ["{u} ::= {v}"]),
    "make-:::=": ("contexts/make/vars.mk", ["{u} :::= {v}"]),
    "php-.=": ("contexts/php/boot.php", ['${c} .= "{v}";']),
    "java-setProperty": ("contexts/java/Main.java", ['        System.setProperty("{u}", "{v}");']),
    "json-escaped": ("contexts/json_escaped/task.json", ['  {{"name": "job", "env": "LOG_LEVEL=info\\n{u}={v}\\nREGION=eu-west-1"}},']),
    "yaml": ("contexts/plain/config.yaml", ["{c}: {v}"]),
    "ini": ("contexts/plain/app.ini", ["{c} = {v}"]),
    "json": ("contexts/plain/config.json", ['  "{c}": "{v}",']),
}
for ctx, (path, tmpl) in XCONTEXTS.items():
    if path.endswith(".json"):
        add(path, "[" if "escaped" in path else "{")
    for fam, (camel, upper), gen in XFAMILIES:
        v = gen()
        if len(tmpl) > 1:
            # a multi-line element: the label spans it (tools report the
            # opening tag's line or the value's)
            add(path, tmpl[0].format(c=camel, u=upper, v=v), fam)
            for t in tmpl[1:]:
                add(path, t.format(c=camel, u=upper, v=v))
            extend_last_label(path)
            continue
        for t in tmpl:
            line = t.format(c=camel, u=upper, v=v)
            add(path, line, fam if "{v}" in t else None)
    # near misses in the same syntax
    for t in tmpl:
        if "{v}" not in t:
            continue
        for c, u, v in [
            ("apiToken", "API_TOKEN", "${API_TOKEN}"),
            ("apiToken", "API_TOKEN", "changeme"),
            ("apiToken", "API_TOKEN", "<your-api-token>"),
            ("buildSha", "BUILD_SHA", xr(HEX, 40)),
            ("requestId", "REQUEST_ID", xuuid()),
            ("apiTokenHeader", "API_TOKEN_HEADER", "X-Api-Token"),
        ]:
            add(path, t.format(c=c, u=u, v=v) if len(tmpl) == 1 else f"<{c}>{v}</{c}>")
    if path.endswith(".json"):
        add(path, '  {"end": true}')
        add(path, "]" if "escaped" in path else "}")
# curl -u user:password (a password, or a token as the password)
p = "contexts/curl/deploy.sh"
for i in range(12):
    user = xrng.choice(["deploy", "ci", "admin", "svc-release", "api"])
    v = xpassword() if i % 2 else xr(ALNUM, 32)
    add(p, f"curl -fsS -u {user}:{v} https://artifacts.example.internal/upload -T dist.tgz", "curl-basic-auth")
for neg in ['curl -u "$USER:$PASS" https://artifacts.example.internal/',
            "curl -u admin:changeme http://localhost:8080/",
            "curl -u ${CI_USER}:${CI_TOKEN} https://artifacts.example.internal/",
            "curl -u user:password https://example.com/"]:
    add(p, neg)

# ------------------------------------------------------------ bulk filler
for d in range(8):
    p = f"src/module{d}/lib.rs"
    for i in range(150):
        add(p, f"pub fn handler_{i}(ctx: &Context, key: &str) -> Result<Value, Error> {{ let v = ctx.get(key)?; Ok(v.map(|x| x * {i})) }}")

# ------------------------------------------------------------ write
out = sys.argv[1] if len(sys.argv) > 1 else "bench-corpus/scan"
root = os.path.join(out, "files")
for path, lines in files.items():
    full = os.path.join(root, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w") as f:
        f.write("\n".join(lines) + "\n")
with open(os.path.join(out, "labels.tsv"), "w") as f:
    f.write("# path\tline\tfamily\tend_line   (every true secret in files/; any other finding is a false positive)\n")
    for path, line, fam, end in sorted(labels):
        f.write(f"{path}\t{line}\t{fam}\t{end}\n")
print(f"{len(files)} files, {len(labels)} labelled secrets, {sum(len(l) for l in files.values())} lines", file=sys.stderr)
