#!/usr/bin/env python3
"""Held-out accuracy sets for clef-scan, generated (never committed).

  scan_heldout.py contexts DIR SEED   provider tokens in 45 embedding
      contexts the labelled corpus (bench-corpus/scan) does not use
      (Kotlin, Swift, C#, Ruby, Terraform, Dockerfile, nginx, CLI flags,
      URL queries, CSV, ...), 9 tokens and 6 near misses per file
      (placeholders, references, hashes, UUIDs, truncated, masked,
      sequential, documentation examples), 3 files per context
  scan_heldout.py shapes DIR SEED     62 prefixed token shapes in 8
      contexts that give no secret-like name (a log line, a CSV cell, a
      neutral variable, a function argument, ...): only the token's own
      shape can find it

DIR gets files/ and labels.tsv in bench-corpus/scan's format; score a tool
with bench/scan_score.py (bench/scan.sh, section heldout, runs every tool).
Written 2026-12-04 from vendors' documented prefixes, lengths and
charsets; every value is random (seeded) and was never issued. A set is
held out only until someone tunes the scanner on it: change SEED.
"""
import base64, os, random, string, sys, zlib

mode, out, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
rng = random.Random(seed)
AL = string.ascii_letters + string.digits
B62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
HEX = "0123456789abcdef"
URLB = AL + "_-"
UP = string.ascii_uppercase + string.digits
LOWAL = string.ascii_lowercase + string.digits


def r(n, cs=AL):
    return "".join(rng.choice(cs) for _ in range(n))


def b62(n):
    s = ""
    while n:
        n, d = divmod(n, 62)
        s = B62[d] + s
    return s.rjust(6, "0")


def gh(prefix):
    body = r(30)
    return prefix + body + b62(zlib.crc32(body.encode()))


def pypi():
    raw = b"\x02\x01\x08pypi.org\x02\x21" + bytes([1]) + bytes(rng.getrandbits(8) for _ in range(32)) + b"\x00\x02\x06" + bytes(rng.getrandbits(8) for _ in range(32)) + b"\x00\x00\x06\x20" + bytes(rng.getrandbits(8) for _ in range(32))
    return "pypi-" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


TOKENS = [  # (family, generator, a variable name people give it)
    ("github-pat", lambda: gh("ghp_"), "GITHUB_TOKEN"),
    ("github-fine", lambda: "github_pat_" + r(22) + "_" + r(59), "GH_PAT"),
    ("gitlab", lambda: "glpat-" + r(20, URLB), "GITLAB_TOKEN"),
    ("slack-bot", lambda: f"xoxb-{r(12, string.digits)}-{r(13, string.digits)}-{r(24)}", "SLACK_BOT_TOKEN"),
    ("stripe", lambda: "sk_live_" + r(rng.choice([24, 99])), "STRIPE_SECRET_KEY"),
    ("aws-id", lambda: "AKIA" + r(16, string.ascii_uppercase + "234567"), "AWS_ACCESS_KEY_ID"),
    ("aws-secret", lambda: r(40, AL + "+/"), "AWS_SECRET_ACCESS_KEY"),
    ("openai", lambda: "sk-proj-" + r(58, URLB) + "T3BlbkFJ" + r(58, URLB), "OPENAI_API_KEY"),
    ("anthropic", lambda: "sk-ant-api03-" + r(93, URLB) + "AA", "ANTHROPIC_API_KEY"),
    ("npm", lambda: gh("npm_"), "NPM_TOKEN"),
    ("sendgrid", lambda: "SG." + r(22, URLB) + "." + r(43, URLB), "SENDGRID_API_KEY"),
    ("google", lambda: "AIza" + r(35, URLB), "GOOGLE_API_KEY"),
    ("shopify", lambda: "shpat_" + r(32, HEX), "SHOPIFY_ACCESS_TOKEN"),
    ("digitalocean", lambda: "dop_v1_" + r(64, HEX), "DIGITALOCEAN_TOKEN"),
    ("huggingface", lambda: "hf_" + r(34, string.ascii_letters), "HF_TOKEN"),
    ("databricks", lambda: "dapi" + r(32, HEX), "DATABRICKS_TOKEN"),
    ("linear", lambda: "lin_api_" + r(40), "LINEAR_API_KEY"),
    ("postman", lambda: "PMAK-" + r(24, HEX) + "-" + r(34, HEX), "POSTMAN_API_KEY"),
    ("twilio", lambda: "SK" + r(32, HEX), "TWILIO_API_KEY"),
    ("mailchimp", lambda: r(32, HEX) + "-us" + str(rng.randint(1, 21)), "MAILCHIMP_API_KEY"),
    ("telegram", lambda: f"{rng.randint(100000000, 9999999999)}:AA{r(33, URLB)}", "TELEGRAM_BOT_TOKEN"),
    ("doppler", lambda: "dp.pt." + r(43), "DOPPLER_TOKEN"),
    ("pypi", pypi, "PYPI_TOKEN"),
    ("grafana-sa", lambda: "glsa_" + r(32) + "_" + r(8, HEX), "GRAFANA_TOKEN"),
    ("vault", lambda: "hvs." + r(91, URLB), "VAULT_TOKEN"),
    ("generic-secret", lambda: r(32), "CLIENT_SECRET"),
    ("generic-password", lambda: r(14, AL + "!#%*") + r(2, string.digits), "DB_PASSWORD"),
]

NEAR = [  # values that must not be reported, with a variable name
    ("placeholder", lambda: "sk_live_" + "X" * 24, "STRIPE_SECRET_KEY"),
    ("placeholder", lambda: "<your-api-key>", "API_KEY"),
    ("placeholder", lambda: "your_token_here", "GITHUB_TOKEN"),
    ("placeholder", lambda: "changeme", "DB_PASSWORD"),
    ("placeholder", lambda: "xoxb-your-bot-token", "SLACK_BOT_TOKEN"),
    ("reference", lambda: "${API_KEY}", "API_KEY"),
    ("reference", lambda: "{{ .Values.token }}", "TOKEN"),
    ("example", lambda: "AKIAIOSFODNN7EXAMPLE", "AWS_ACCESS_KEY_ID"),
    ("example", lambda: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "AWS_SECRET_ACCESS_KEY"),
    ("hash", lambda: r(64, HEX), "SHA256"),
    ("hash", lambda: r(40, HEX), "GIT_COMMIT"),
    ("uuid", lambda: "-".join(r(n, HEX) for n in (8, 4, 4, 4, 12)), "REQUEST_ID"),
    ("public", lambda: "pk_live_" + r(24), "STRIPE_PUBLISHABLE_KEY"),
    ("short", lambda: "abc123", "TOKEN"),
    ("word", lambda: "password", "PASSWORD"),
    ("path", lambda: "/etc/secrets/api-token", "TOKEN_FILE"),
    ("version", lambda: "1.24.3", "TOKEN_VERSION"),
    ("truncated", lambda: "ghp_" + r(20), "GITHUB_TOKEN"),
    ("truncated", lambda: "AKIA" + r(10, string.ascii_uppercase), "AWS_ACCESS_KEY_ID"),
    ("truncated", lambda: "sk_live_" + r(10), "STRIPE_SECRET_KEY"),
    ("masked", lambda: "sk_live_" + "*" * 24, "STRIPE_SECRET_KEY"),
    ("masked", lambda: "ghp_" + "*" * 36, "GITHUB_TOKEN"),
    ("masked", lambda: "AKIA" + "*" * 16, "AWS_ACCESS_KEY_ID"),
    ("sequential", lambda: "sk_live_abcdefghijklmnopqrstuvwx", "STRIPE_SECRET_KEY"),
    ("sequential", lambda: "0123456789abcdef0123456789abcdef", "API_KEY"),
    ("repeated", lambda: "AKIAAAAAAAAAAAAAAAAA", "AWS_ACCESS_KEY_ID"),
    ("template", lambda: "{{ secrets.API_KEY }}", "API_KEY"),
    ("template", lambda: "%API_KEY%", "API_KEY"),
    ("template", lambda: "$(API_TOKEN)", "API_TOKEN"),
    ("template", lambda: "<%= ENV['SECRET_KEY'] %>", "SECRET_KEY"),
    ("jwtio", lambda: "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c", "JWT"),
    ("stripe-docs", lambda: "sk_test_4eC39HqLyjWDarjtT1zdp7dc", "STRIPE_SECRET_KEY"),
    ("b64-text", lambda: "dGhpcyBpcyBub3QgYSBzZWNyZXQ=", "API_KEY"),
    ("env-ref", lambda: "process.env.API_KEY", "API_KEY"),
]
# near misses whose negativity needs no name: the rest need the name
NAMELESS = {"placeholder", "reference", "example", "truncated", "masked", "sequential", "repeated", "template", "jwtio", "stripe-docs", "env-ref"}
NAMELESS_CTX = {"http_header", "python_fstring_header", "nginx"}


def camel(n):
    p = n.lower().split("_")
    return p[0] + "".join(x.title() for x in p[1:])


# contexts: name, extension, template(name, value) -> list of lines; the
# secret sits on the first line that contains {v} (multi-line supported)
CTX = {
    "kotlin": ("kt", lambda n, v: [f'    val {camel(n)} = "{v}"']),
    "kotlin_const": ("kt", lambda n, v: [f'    const val {n}: String = "{v}"']),
    "swift": ("swift", lambda n, v: [f'    let {camel(n)}: String = "{v}"']),
    "csharp": ("cs", lambda n, v: [f'        private const string {n.title().replace("_", "")} = "{v}";']),
    "csharp_dict": ("cs", lambda n, v: [f'            ["{n}"] = "{v}",']),
    "ruby_env": ("rb", lambda n, v: [f"ENV['{n}'] ||= '{v}'"]),
    "ruby_hash": ("rb", lambda n, v: [f"  {n.lower()}: '{v}',"]),
    "py_kwarg": ("py", lambda n, v: [f'client = Client({n.lower()}="{v}", timeout=30)']),
    "py_dict": ("py", lambda n, v: [f'    "{n.lower()}": "{v}",']),
    "py_environ_default": ("py", lambda n, v: [f'{n} = os.environ.get("{n}", "{v}")']),
    "terraform_default": ("tf", lambda n, v: [f'variable "{n.lower()}" {{', '  type    = string', f'  default = "{v}"', '}']),
    "dockerfile_env": ("Dockerfile", lambda n, v: [f"ENV {n}={v}"]),
    "dockerfile_arg": ("Dockerfile", lambda n, v: [f"ARG {n}={v}"]),
    "shell_export": ("sh", lambda n, v: [f"export {n}='{v}'"]),
    "toml": ("toml", lambda n, v: [f'{n.lower()} = "{v}"']),
    "properties_dotted": ("properties", lambda n, v: [f"app.{n.lower().replace('_', '.')}={v}"]),
    "k8s_stringdata": ("yaml", lambda n, v: ["stringData:", f"  {n}: {v}"]),
    "gha_env": ("yml", lambda n, v: ["    env:", f"      {n}: {v}"]),
    "java_annotation": ("java", lambda n, v: [f'    @Value("${{{n.lower()}:{v}}}")']),
    "rust_const": ("rs", lambda n, v: [f'const {n}: &str = "{v}";']),
    "http_header": ("http", lambda n, v: ["GET /v1/items HTTP/1.1", "Host: api.example.com", f"X-Api-Key: {v}"]),
    "url_query": ("txt", lambda n, v: [f"https://api.example.com/v2/send?{n.lower()}={v}&format=json"]),
    "sql_insert": ("sql", lambda n, v: [f"INSERT INTO settings (name, value) VALUES ('{n.lower()}', '{v}');"]),
    "lua": ("lua", lambda n, v: [f'local {n.lower()} = "{v}"']),
    "powershell": ("ps1", lambda n, v: [f'$env:{n} = "{v}"']),
    "bat": ("bat", lambda n, v: [f"set {n}={v}"]),
    "gradle": ("gradle", lambda n, v: [f'    buildConfigField "String", "{n}", "\\"{v}\\""']),
    "md_codeblock": ("md", lambda n, v: ["Run it with:", "", "```", f"{n}={v} ./run.sh", "```"]),
    "cli_flag": ("sh", lambda n, v: [f"./deploy --{n.lower().replace('_', '-')} {v} --region eu-west-1"]),
    "docker_run": ("sh", lambda n, v: [f"docker run -e {n}={v} -p 8080:8080 app:latest"]),
    "js_object": ("js", lambda n, v: [f"  {camel(n)}: '{v}',"]),
    "ts_typed": ("ts", lambda n, v: [f"const {camel(n)}: string = '{v}';"]),
    "yaml_nested": ("yaml", lambda n, v: ["credentials:", "  provider:", f"    {n.lower()}: \"{v}\""]),
    "c_define": ("h", lambda n, v: [f'#define {n} "{v}"']),
    "scala": ("scala", lambda n, v: [f'  val {camel(n)}: String = "{v}"']),
    "elixir": ("exs", lambda n, v: [f'config :app, {n.lower()}: "{v}"']),
    "nginx": ("conf", lambda n, v: [f'    proxy_set_header X-Api-Key "{v}";']),
    "python_fstring_header": ("py", lambda n, v: [f'headers = {{"Authorization": "Bearer {v}"}}']),
    "ini_spaced": ("ini", lambda n, v: ["[auth]", f"{n.lower()}   =   {v}"]),
    "csv": ("csv", lambda n, v: [f"prod,{n.lower()},{v},2024-01-01"]),
    "json_nested": ("json", lambda n, v: ["{", '  "auth": {', f'    "{camel(n)}": "{v}"', "  }", "}"]),
    "vue_env": ("env", lambda n, v: [f"VITE_{n}={v}"]),
    "perl": ("pl", lambda n, v: [f"my ${n.lower()} = '{v}';"]),
    "helm_set": ("sh", lambda n, v: [f"helm upgrade app ./chart --set secrets.{camel(n)}={v}"]),
    "comment": ("py", lambda n, v: [f"# old {n.lower()}: {v}"]),
}

FILLER = ["", "import os", "def main():", "    return None", "// helper", "log.info(\"started\")", "x = compute(a, b)"]

def contexts():
    labels = []
    for ctx, (ext, tpl) in CTX.items():
        for k in range(3):
            lines = []
            near = [t for t in NEAR if ctx not in NAMELESS_CTX or t[0] in NAMELESS]
            items = [(True,) + t for t in rng.sample(TOKENS, 9)] + [(False,) + t for t in rng.sample(near, 6)]
            rng.shuffle(items)
            fname = f"f{k}.{ext}" if ext != "Dockerfile" else f"f{k}/Dockerfile"
            path = f"contexts/{ctx}/{fname}"
            for pos, fam, gen, name in items:
                lines.append(rng.choice(FILLER))
                v = gen()
                block = tpl(name, v)
                for i, l in enumerate(block):
                    lines.append(l)
                    if pos and v in l:
                        labels.append((path, len(lines), fam))
            full = os.path.join(out, "files", path)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, "w") as f:
                f.write("\n".join(lines) + "\n")
    return labels


def shape_tokens():
    def r(n, cs=AL):
        while True:
            s = "".join(rng.choice(cs) for _ in range(n))
            if n < 8 or cs in (HEX, string.ascii_letters) or sum(c.isdigit() for c in s) >= 2:
                return s
    # (family, value) for prefix-identifiable tokens: must be found with no name at all
    return [
        ("shopify-shpss", lambda: "shpss_" + r(32, HEX)),
        ("shopify-shpca", lambda: "shpca_" + r(32, HEX)),
        ("dynatrace", lambda: "dt0c01." + r(24, UP) + "." + r(64, UP)),
        ("newrelic", lambda: "NRAK-" + r(27, UP)),
        ("sentry-user", lambda: "sntryu_" + r(64, HEX)),
        ("pulumi", lambda: "pul-" + r(40, HEX)),
        ("tfc", lambda: r(14, AL) + ".atlasv1." + r(67, AL)),
        ("tailscale", lambda: "tskey-auth-" + r(11, AL) + "CNTRL-" + r(33, AL)),
        ("linear-oauth", lambda: "lin_oauth_" + r(64, HEX)),
        ("notion", lambda: "ntn_" + r(11, string.digits) + r(35, AL)),
        ("figma", lambda: "figd_" + r(40, URLB)),
        ("supabase", lambda: "sbp_" + r(40, HEX)),
        ("planetscale", lambda: "pscale_tkn_" + r(43, URLB)),
        ("planetscale-pw", lambda: "pscale_pw_" + r(43, URLB)),
        ("render", lambda: "rnd_" + r(32, AL)),
        ("doppler-st", lambda: "dp.st.prd." + r(40, AL)),
        ("groq", lambda: "gsk_" + r(52, AL)),
        ("replicate", lambda: "r8_" + r(37, AL)),
        ("perplexity", lambda: "pplx-" + r(48, AL)),
        ("xai", lambda: "xai-" + r(80, AL)),
        ("openrouter", lambda: "sk-or-v1-" + r(64, HEX)),
        ("langsmith", lambda: "lsv2_pt_" + r(32, HEX) + "_" + r(10, HEX)),
        ("nvidia", lambda: "nvapi-" + r(64, URLB)),
        ("buildkite", lambda: "bkua_" + r(40, HEX)),
        ("mailgun", lambda: "key-" + r(32, HEX)),
        ("brevo", lambda: "xkeysib-" + r(64, HEX) + "-" + r(16, AL)),
        ("square", lambda: "EAAA" + r(60, URLB)),
        ("square-sq0atp", lambda: "sq0atp-" + r(22, URLB)),
        ("square-sq0csp", lambda: "sq0csp-" + r(43, URLB)),
        ("shippo", lambda: "shippo_live_" + r(40, HEX)),
        ("easypost", lambda: "EZAK" + r(54, AL)),
        ("duffel", lambda: "duffel_live_" + r(43, URLB)),
        ("azure-ad", lambda: r(3, AL) + "8Q~" + r(34, URLB)),
        ("do-oauth", lambda: "doo_v1_" + r(64, HEX)),
        ("prefect", lambda: "pnu_" + r(36, AL)),
        ("readme", lambda: "rdme_" + r(70, HEX)),
        ("contentful", lambda: "CFPAT-" + r(43, URLB)),
        ("rubygems", lambda: "rubygems_" + r(48, HEX)),
        ("nuget", lambda: "oy2" + r(43, LOWAL)),
        ("docker", lambda: "dckr_pat_" + r(27, URLB)),
        ("clojars", lambda: "CLOJARS_" + r(60, HEX)),
        ("sonar", lambda: "squ_" + r(40, HEX)),
        ("circleci", lambda: "CCIPAT_" + r(22, AL) + "_" + r(40, HEX)),
        ("gitlab-runner", lambda: "glrt-" + r(20, URLB)),
        ("gitlab-trigger", lambda: "glptt-" + r(40, HEX)),
        ("gitlab-deploy", lambda: "gldt-" + r(20, URLB)),
        ("anthropic-admin", lambda: "sk-ant-admin01-" + r(93, URLB) + "AA"),
        ("openai-svc", lambda: "sk-svcacct-" + r(58, URLB) + "T3BlbkFJ" + r(58, URLB)),
        ("hf-org", lambda: "api_org_" + r(34, string.ascii_letters)),
        ("elevenlabs", lambda: "sk_" + r(48, HEX)),
        ("fireworks", lambda: "fw_" + r(24, AL)),
        ("slack-webhook", lambda: "https://hooks.slack.com/services/T" + r(8, UP) + "/B" + r(8, UP) + "/" + r(24, AL)),
        ("discord-webhook", lambda: "https://discord.com/api/webhooks/" + r(18, string.digits) + "/" + r(68, URLB)),
        ("slack-user", lambda: f"xoxp-{r(12, string.digits)}-{r(12, string.digits)}-{r(13, string.digits)}-{r(32, HEX)}"),
        ("grafana-cloud", lambda: "glc_" + r(80, AL + "+/") + "=="),
        ("stripe-rk", lambda: "rk_live_" + r(24)),
        ("sendgrid", lambda: "SG." + r(22, URLB) + "." + r(43, URLB)),
        ("mapbox", lambda: "sk.eyJ1Ijoi" + r(50, URLB) + "." + r(22, URLB)),
        ("postgres-url", lambda: f"postgres://app:{r(16)}@db.internal:5432/app"),
        ("mongodb-url", lambda: f"mongodb+srv://app:{r(16)}@cluster0.ab1cd.mongodb.net/app"),
        ("azure-storage", lambda: f"DefaultEndpointsProtocol=https;AccountName=acme;AccountKey={r(86, AL + '+/')}==;EndpointSuffix=core.windows.net"),
    ]


def shapes():
    labels = []
    V = shape_tokens()
    # nameless contexts: the token must be recognised by its shape
    CTX = {
        "neutral_env": ("env", lambda v: f"SETTING_{rng.randint(1,99)}={v}"),
        "neutral_yaml": ("yaml", lambda v: f"  value_{rng.randint(1,99)}: \"{v}\""),
        "comment": ("py", lambda v: f"# rotated on monday, was {v}"),
        "json_array": ("json", lambda v: f'  ["prod", "{v}"],'),
        "log_line": ("log", lambda v: f"2026-11-30T10:00:00Z INFO request sent with {v} ok"),
        "md_inline": ("md", lambda v: f"Use `{v}` for the staging account."),
        "csv": ("csv", lambda v: f"prod,{rng.randint(1,9)},{v},2024-01-01"),
        "fn_arg": ("js", lambda v: f"client.connect(\"{v}\", {{ retries: 3 }});"),
    }
    for ctx, (ext, tpl) in CTX.items():
        for k in range(2):
            lines, path = [], f"contexts/{ctx}/f{k}.{ext}"
            for fam, g in V:
                lines.append("")
                lines.append(tpl(g()))
                labels.append((path, len(lines), fam))
            full = os.path.join(out, "files", path)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            open(full, "w").write("\n".join(lines) + "\n")
    return labels


labels = {"contexts": contexts, "shapes": shapes}[mode]()
os.makedirs(out, exist_ok=True)
with open(os.path.join(out, "labels.tsv"), "w") as f:
    f.write("# path\tline\tfamily\tend_line\n")
    for p, l, fam in labels:
        f.write(f"{p}\t{l}\t{fam}\t{l}\n")
print(len(labels), "labelled secrets in", out)
