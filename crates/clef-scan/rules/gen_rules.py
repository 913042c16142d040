#!/usr/bin/env python3
"""Generate crates/clef-scan/rules/builtin.toml.

The rule table below is the source of truth: each entry names a token family
(fixed prefix + charset + length, or a provider keyword + an assignment), and
the script writes the regex, keywords, entropy floor, and freshly generated
positive and negative examples. Example values are random (seeded, so the
output is reproducible) and were never issued by any provider.

Run: python3 crates/clef-scan/rules/gen_rules.py > crates/clef-scan/rules/builtin.toml

NOTE: builtin.toml is no longer generated. Since issue 16 it has been edited
by hand (new vendor rules, Heroku/ElevenLabs formats, the wider operator set
`= := ::= :::= ?= .= += : => , >` and typed declarations in every contextual
rule); running this script would undo those edits. builtin.toml is the source
of truth; this script only documents how the original families were made.
"""
import random
import string

rng = random.Random(20261124)

ALNUM = string.ascii_letters + string.digits
UPPER_ALNUM = string.ascii_uppercase + string.digits
LOWER_ALNUM = string.ascii_lowercase + string.digits
HEX = "0123456789abcdef"
B64 = ALNUM + "+/"
URLSAFE = ALNUM + "_-"

CHARSETS = {
    "alnum": (ALNUM, "[0-9A-Za-z]"),
    "upper": (UPPER_ALNUM, "[0-9A-Z]"),
    "lower": (LOWER_ALNUM, "[0-9a-z]"),
    "hex": (HEX, "[0-9a-f]"),
    "HEX": ("0123456789ABCDEF", "[0-9A-F]"),
    "b64": (B64, "[0-9A-Za-z+/]"),
    "url": (URLSAFE, "[0-9A-Za-z_-]"),
    "letters": (string.ascii_letters, "[A-Za-z]"),
}


def rand(cs, n):
    chars = CHARSETS[cs][0]
    while True:
        s = "".join(rng.choice(chars) for _ in range(n))
        # keep examples clearly random: at least one digit when the charset has digits
        if any(c.isdigit() for c in chars) and n >= 8 and not any(c.isdigit() for c in s):
            continue
        if n >= 8 and cs in ("alnum", "b64", "url") and not (any(c.isupper() for c in s) and any(c.islower() for c in s)):
            continue
        return s


def uuid():
    h = rand("hex", 32)
    return f"{h[0:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


rules = []


def rule(id, desc, keywords, regex, examples, negatives, entropy=None, group=1, multiline=False):
    rules.append(dict(id=id, desc=desc, keywords=keywords, regex=regex, examples=examples,
                      negatives=negatives, entropy=entropy, group=group, multiline=multiline))


def esc(p):
    out = ""
    for c in p:
        if c in ".+*?()[]{}|^$\\":
            out += "\\" + c
        else:
            out += c
    return out


def prefixed(id, desc, prefix, cs, n, n_max=None, suffix="", entropy=3.0, extra_kw=None, ctx="token"):
    """A token that starts with a fixed prefix, e.g. ghp_ + 36 alnum."""
    cls = CHARSETS[cs][1]
    q = f"{{{n}}}" if n_max is None else f"{{{n},{n_max}}}"
    regex = f"(?:^|[^0-9A-Za-z_])({esc(prefix)}{cls}{q}{esc(suffix)})(?:$|[^0-9A-Za-z_-])"
    if cs in ("url",) or prefix.endswith("-") and cs == "url":
        regex = f"(?:^|[^0-9A-Za-z_])({esc(prefix)}{cls}{q}{esc(suffix)})(?:$|[^0-9A-Za-z_-])"
    tail = rand(cs, n)
    tok = prefix + tail + suffix
    short = prefix + rand(cs, max(3, n // 3)) + suffix
    examples = [f'{ctx} = "{tok}"', f"export {id.upper().replace('-', '_')}={prefix + rand(cs, n) + suffix}"]
    negatives = [f'{ctx} = "{short}"', f'{ctx} = "{prefix}{"x" * n}{suffix}"']
    if entropy is not None and n < 12:
        entropy = None
    kws = [prefix.lower()] + (extra_kw or [])
    rule(id, desc, kws, regex, examples, negatives, entropy=entropy)


def contextual(id, desc, names, cs, n, n_max=None, entropy=3.0):
    """A provider secret without a fixed prefix: needs the provider name nearby, as in
    `TWILIO_AUTH_TOKEN = "..."`."""
    cls = CHARSETS[cs][1]
    q = f"{{{n}}}" if n_max is None else f"{{{n},{n_max}}}"
    alt = "|".join(esc(x) for x in names)
    regex = (f"(?i)(?:{alt})[0-9a-z_.-]{{0,30}}(?:key|token|secret|password|pat|auth|sid|credential)s?"
             f"[0-9a-z_.-]{{0,10}}[\"'`]?\\s*(?:=|:=|:|=>|,)\\s*[\"'`]?(?-i:({cls}{q}))(?:$|[^0-9A-Za-z_+/=-])")
    name = names[0].upper().replace(".", "_").replace("-", "_")
    examples = [f'{name}_API_KEY = "{rand(cs, n)}"', f"{names[0]}_token: {rand(cs, n)}"]
    negatives = [f'{name}_API_KEY = "${{{name}_API_KEY}}"', f'{name}_API_KEY = "{rand(cs, max(4, n // 3))}"']
    rule(id, desc, [x.lower() for x in names], regex, examples, negatives, entropy=entropy)


# ---------------------------------------------------------------- cloud
rule("aws-access-key-id", "AWS access key ID", ["akia", "asia", "abia", "acca", "a3t"],
     r"(?:^|[^0-9A-Za-z])((?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16})(?:$|[^0-9A-Za-z])",
     ["aws_access_key_id = AKIA" + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16)),
      '"AccessKeyId": "ASIA' + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16)) + '"'],
     ["aws_access_key_id = AKIAIOSFODNN7EXAMPLE", "NOTANAWSKEYATALLXYZ", "AKIA1234"], entropy=3.0)
rule("aws-secret-access-key", "AWS secret access key", ["aws_secret", "awssecret", "secret_access_key", "secretaccesskey", "aws-secret"],
     r"(?i)(?:aws)?_?(?:secret)_?(?:access)?_?key[\"'`]?\s*(?:=|:=|:|=>)\s*[\"'`]?(?-i:([0-9A-Za-z/+]{40}))(?:$|[^0-9A-Za-z/+=])",
     ["aws_secret_access_key = " + rand("b64", 40), '"SecretAccessKey": "' + rand("b64", 40) + '"'],
     ["aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "aws_secret_access_key = ${AWS_SECRET_ACCESS_KEY}"],
     entropy=3.5)
prefixed("gcp-api-key", "Google Cloud / Firebase / Gemini API key", "AIza", "url", 35)
rule("gcp-service-account-key", "Google Cloud service account key id", ["private_key_id"],
     r"\"private_key_id\"\s*:\s*\"([0-9a-f]{40})\"",
     ['  "private_key_id": "' + rand("hex", 40) + '",'], ['  "private_key_id": "",', '  "private_key_id": "1234"'], entropy=3.0)
prefixed("gcp-oauth-client-secret", "Google OAuth client secret", "GOCSPX-", "url", 28)
rule("azure-storage-account-key", "Azure storage account key in a connection string", ["accountkey="],
     r"(?i)AccountKey=(?-i:([0-9A-Za-z+/]{86}==))",
     ["DefaultEndpointsProtocol=https;AccountName=acme;AccountKey=" + rand("b64", 86) + "==;EndpointSuffix=core.windows.net"],
     ["AccountKey=<your-account-key>", "AccountKey=" + "A" * 86 + "=="], entropy=4.0)
rule("azure-ad-client-secret", "Azure AD (Entra ID) client secret", ["q~"],
     r"(?:^|[\"'`\s=:>])([0-9A-Za-z_~.]{3}[0-9]Q~[0-9A-Za-z_~.-]{31,34})(?:$|[^0-9A-Za-z_~.-])",
     ['AZURE_CLIENT_SECRET="' + rand("alnum", 3) + "8Q~" + rand("alnum", 34) + '"'],
     ['AZURE_CLIENT_SECRET="abc8Q~short"'], entropy=3.0)
prefixed("azure-sas-signature", "Azure shared access signature", "sig=", "url", 43, suffix="%3D", ctx="url", entropy=3.5)
prefixed("digitalocean-pat", "DigitalOcean personal access token", "dop_v1_", "hex", 64)
prefixed("digitalocean-oauth-token", "DigitalOcean OAuth token", "doo_v1_", "hex", 64)
prefixed("digitalocean-refresh-token", "DigitalOcean refresh token", "dor_v1_", "hex", 64)
prefixed("alibaba-access-key-id", "Alibaba Cloud AccessKey ID", "LTAI", "alnum", 20)
prefixed("heroku-api-key-v2", "Heroku API key", "HRKU-AA", "url", 58)
rule("cloudflare-origin-ca-key", "Cloudflare Origin CA key", ["v1.0-"],
     r"(?:^|[^0-9A-Za-z])(v1\.0-[0-9a-f]{24}-[0-9a-f]{146})(?:$|[^0-9a-f])",
     ["CF_ORIGIN_CA_KEY=v1.0-" + rand("hex", 24) + "-" + rand("hex", 146)], ["version: v1.0-beta"], entropy=3.0)
prefixed("flyio-access-token", "Fly.io access token", "fo1_", "url", 43)
prefixed("hashicorp-vault-service-token", "HashiCorp Vault service token", "hvs.", "url", 90, 120)
prefixed("hashicorp-vault-batch-token", "HashiCorp Vault batch token", "hvb.", "url", 138, 300)
rule("terraform-cloud-token", "Terraform Cloud / HCP API token", ["atlasv1"],
     r"(?:^|[^0-9A-Za-z])([0-9A-Za-z]{14}\.atlasv1\.[0-9A-Za-z_=-]{60,70})(?:$|[^0-9A-Za-z_=-])",
     ['token = "' + rand("alnum", 14) + ".atlasv1." + rand("url", 67) + '"'], ['token = "abc.atlasv1.short"'], entropy=3.0)
prefixed("pulumi-access-token", "Pulumi access token", "pul-", "hex", 40)
prefixed("doppler-service-token", "Doppler service token", "dp.st.", "url", 40, 50)
prefixed("doppler-personal-token", "Doppler personal token", "dp.pt.", "alnum", 43)
prefixed("planetscale-password", "PlanetScale database password", "pscale_pw_", "url", 43)
prefixed("planetscale-api-token", "PlanetScale API token", "pscale_tkn_", "url", 43)
prefixed("planetscale-oauth-token", "PlanetScale OAuth token", "pscale_oauth_", "url", 43)
prefixed("supabase-access-token", "Supabase personal access token", "sbp_", "hex", 40)
prefixed("supabase-secret-key", "Supabase secret API key", "sb_secret_", "url", 31)
prefixed("databricks-api-token", "Databricks personal access token", "dapi", "hex", 32)
prefixed("render-api-key", "Render API key", "rnd_", "alnum", 32)
prefixed("tailscale-key", "Tailscale auth or API key", "tskey-auth-", "alnum", 40, 60)
prefixed("tailscale-api-key", "Tailscale API key", "tskey-api-", "alnum", 40, 60)
prefixed("defined-networking-api-key", "Defined Networking API key", "dnkey-", "url", 79)
prefixed("scalingo-api-token", "Scalingo API token", "tk-us-", "url", 48)
prefixed("infracost-api-token", "Infracost API token", "ico-", "alnum", 32)
prefixed("yandex-api-key", "Yandex Cloud API key", "AQVN", "url", 35, 38)
prefixed("ngrok-api-key", "ngrok API key", "ngrok_api_", "alnum", 30, 40)
prefixed("linode-pat", "Linode personal access token (Akamai)", "lin_pat_", "hex", 64)
contextual("cloudflare-api-token", "Cloudflare API token", ["cloudflare", "cf_api"], "url", 40)
contextual("cloudflare-global-api-key", "Cloudflare global API key", ["cloudflare_global", "cf_global"], "hex", 37)
contextual("heroku-api-key", "Heroku API key (legacy UUID)", ["heroku"], "hex", 32)
contextual("linode-api-token", "Linode API token", ["linode"], "hex", 64)
contextual("scaleway-secret-key", "Scaleway secret key", ["scaleway", "scw_secret"], "hex", 32)
contextual("vercel-token", "Vercel access token", ["vercel"], "alnum", 24)
contextual("netlify-token", "Netlify access token", ["netlify"], "url", 40, 46)
contextual("ibm-cloud-api-key", "IBM Cloud API key", ["ibm_cloud", "ibmcloud", "ibm"], "url", 44)
contextual("oracle-cloud-auth-token", "Oracle Cloud auth token", ["oci_auth", "oracle"], "url", 20, 24)
contextual("openstack-password", "OpenStack password", ["os_password", "openstack"], "url", 16, 64)
contextual("vultr-api-key", "Vultr API key", ["vultr"], "upper", 36)
contextual("hetzner-api-token", "Hetzner Cloud API token", ["hcloud", "hetzner"], "alnum", 64)

# ---------------------------------------------------------------- VCS
prefixed("github-pat", "GitHub personal access token (classic)", "ghp_", "alnum", 36)
prefixed("github-oauth-token", "GitHub OAuth access token", "gho_", "alnum", 36)
prefixed("github-user-to-server-token", "GitHub App user-to-server token", "ghu_", "alnum", 36)
prefixed("github-server-to-server-token", "GitHub App installation token", "ghs_", "alnum", 36)
prefixed("github-refresh-token", "GitHub refresh token", "ghr_", "alnum", 36, 76)
prefixed("github-fine-grained-pat", "GitHub fine-grained personal access token", "github_pat_", "url", 82)
prefixed("gitlab-pat", "GitLab personal access token", "glpat-", "url", 20, 60)
prefixed("gitlab-pipeline-trigger-token", "GitLab pipeline trigger token", "glptt-", "hex", 40)
prefixed("gitlab-runner-registration-token", "GitLab runner registration token", "GR1348941", "url", 20)
prefixed("gitlab-runner-auth-token", "GitLab runner authentication token", "glrt-", "url", 20, 60)
prefixed("gitlab-deploy-token", "GitLab deploy token", "gldt-", "url", 20)
prefixed("gitlab-feed-token", "GitLab feed token", "glft-", "url", 20)
prefixed("gitlab-incoming-mail-token", "GitLab incoming mail token", "glimt-", "url", 25)
prefixed("gitlab-agent-token", "GitLab Kubernetes agent token", "glagent-", "url", 50)
prefixed("gitlab-oauth-app-secret", "GitLab OAuth application secret", "gloas-", "url", 64)
prefixed("gitlab-scim-token", "GitLab SCIM token", "glsoat-", "url", 20)
prefixed("gitlab-feature-flag-token", "GitLab feature flags client token", "glffct-", "url", 20)
prefixed("gitlab-cicd-job-token", "GitLab CI/CD job token", "glcbt-", "url", 20, 60)
prefixed("bitbucket-app-password", "Bitbucket app password", "ATBB", "alnum", 32)
prefixed("atlassian-api-token", "Atlassian API token", "ATATT3", "url", 186)
prefixed("gitea-token", "Gitea / Forgejo access token (context)", "gitea_token=", "hex", 40, ctx="env")
contextual("bitbucket-client-secret", "Bitbucket OAuth client secret", ["bitbucket"], "url", 32)
contextual("azure-devops-pat", "Azure DevOps personal access token", ["azure_devops", "ado_pat", "azdo"], "lower", 52)

# ---------------------------------------------------------------- CI / build
rule("circleci-pat", "CircleCI personal API token", ["ccipat_"],
     r"(?:^|[^0-9A-Za-z])(CCIPAT_[0-9A-Za-z]{22}_[0-9a-f]{40})(?:$|[^0-9A-Za-z])",
     ["CIRCLE_TOKEN=CCIPAT_" + rand("alnum", 22) + "_" + rand("hex", 40)], ["CIRCLE_TOKEN=CCIPAT_short_1234"], entropy=3.0)
prefixed("buildkite-agent-token", "Buildkite agent/user token", "bkua_", "hex", 40)
prefixed("sonarqube-project-token", "SonarQube project token", "sqp_", "hex", 40)
prefixed("sonarqube-user-token", "SonarQube user token", "squ_", "hex", 40)
prefixed("sonarqube-analysis-token", "SonarQube global analysis token", "sqa_", "hex", 40)
rule("harness-pat", "Harness personal access token", ["pat."],
     r"(?:^|[^0-9A-Za-z])(pat\.[0-9A-Za-z_-]{22}\.[0-9A-Za-z]{24}\.[0-9A-Za-z]{20})(?:$|[^0-9A-Za-z])",
     ["HARNESS_TOKEN=pat." + rand("url", 22) + "." + rand("alnum", 24) + "." + rand("alnum", 20)], ["pat.name = 'x'"], entropy=3.0)
contextual("travis-ci-token", "Travis CI access token", ["travis"], "url", 22)
contextual("codecov-token", "Codecov upload token", ["codecov"], "hex", 32)
contextual("drone-ci-token", "Drone CI token", ["drone"], "alnum", 32)
contextual("jenkins-api-token", "Jenkins API token", ["jenkins"], "hex", 34)
contextual("snyk-token", "Snyk API token", ["snyk"], "hex", 32)
contextual("teamcity-token", "TeamCity access token", ["teamcity"], "url", 40, 200)
prefixed("octopus-deploy-api-key", "Octopus Deploy API key", "API-", "upper", 26, entropy=3.0)

# ---------------------------------------------------------------- package registries
prefixed("npm-access-token", "npm access token", "npm_", "alnum", 36)
prefixed("pypi-upload-token", "PyPI upload token", "pypi-AgEIcHlwaS5vcmc", "url", 50, 300)
prefixed("rubygems-api-key", "RubyGems API key", "rubygems_", "hex", 48)
prefixed("nuget-api-key", "NuGet API key", "oy2", "lower", 43)
prefixed("crates-io-token", "crates.io API token", "cio", "alnum", 32)
prefixed("docker-hub-pat", "Docker Hub personal access token", "dckr_pat_", "url", 27)
prefixed("docker-hub-org-token", "Docker Hub organization access token", "dckr_oat_", "url", 32)
prefixed("artifactory-api-key", "JFrog Artifactory API key", "AKCp", "alnum", 69)
prefixed("artifactory-reference-token", "JFrog Artifactory reference token", "cmVmdGtu", "alnum", 56)
prefixed("clojars-api-token", "Clojars deploy token", "CLOJARS_", "lower", 60)
prefixed("pub-dev-token", "Dart pub token", "pub-dev-token-", "url", 40)
rule("npmrc-auth-token", "npm registry auth token in .npmrc", ["_authtoken"],
     r"(?i)_authToken\s*=\s*(?-i:([0-9A-Za-z_.+/=-]{20,}))",
     ["//registry.npmjs.org/:_authToken=" + rand("url", 36)],
     ["//registry.npmjs.org/:_authToken=${NPM_TOKEN}"], entropy=3.0)
rule("npmrc-auth", "npm registry basic auth in .npmrc", ["_auth="],
     r"(?i)(?:^|[^a-z])_auth\s*=\s*(?-i:([0-9A-Za-z+/]{16,}={0,2}))",
     ["_auth=" + rand("b64", 32) + "=="], ["_auth=${NPM_AUTH}"], entropy=3.0)
rule("docker-config-auth", "Docker config.json registry auth", ['"auth"'],
     r"\"auth\"\s*:\s*\"([0-9A-Za-z+/]{16,}={0,2})\"",
     ['      "auth": "' + rand("b64", 40) + '="'], ['      "auth": ""'], entropy=3.5)
contextual("hex-pm-api-key", "Hex.pm API key", ["hex_api", "hexpm"], "hex", 32)
contextual("gradle-publish-secret", "Gradle plugin portal publish secret", ["gradle.publish", "gradle_publish"], "alnum", 32)

# ---------------------------------------------------------------- monitoring / SaaS
prefixed("grafana-cloud-api-token", "Grafana Cloud API token", "glc_", "b64", 32, 400)
rule("grafana-service-account-token", "Grafana service account token", ["glsa_"],
     r"(?:^|[^0-9A-Za-z])(glsa_[0-9A-Za-z]{32}_[0-9A-Fa-f]{8})(?:$|[^0-9A-Za-z])",
     ["GRAFANA_TOKEN=glsa_" + rand("alnum", 32) + "_" + rand("hex", 8)], ["GRAFANA_TOKEN=glsa_short"], entropy=3.0)
prefixed("grafana-api-key", "Grafana API key (legacy)", "eyJrIjoi", "alnum", 70, 400)
prefixed("new-relic-user-api-key", "New Relic user API key", "NRAK-", "upper", 27)
prefixed("new-relic-insert-key", "New Relic insert key", "NRII-", "url", 32)
prefixed("new-relic-browser-key", "New Relic browser API token", "NRJS-", "hex", 19)
prefixed("sentry-user-token", "Sentry user auth token", "sntryu_", "hex", 64)
prefixed("sentry-org-token", "Sentry organization auth token", "sntrys_", "b64", 60, 300)
rule("dynatrace-api-token", "Dynatrace API token", ["dt0c01."],
     r"(?:^|[^0-9A-Za-z])(dt0c01\.[0-9A-Z]{24}\.[0-9A-Z]{64})(?:$|[^0-9A-Za-z])",
     ["DT_API_TOKEN=dt0c01." + rand("upper", 24) + "." + rand("upper", 64)], ["DT_API_TOKEN=dt0c01.SHORT"], entropy=3.0)
rule("postman-api-key", "Postman API key", ["pmak-"],
     r"(?:^|[^0-9A-Za-z])(PMAK-[0-9a-f]{24}-[0-9a-f]{34})(?:$|[^0-9A-Za-z])",
     ["POSTMAN_API_KEY=PMAK-" + rand("hex", 24) + "-" + rand("hex", 34)], ["PMAK-1234"], entropy=3.0)
prefixed("linear-api-key", "Linear API key", "lin_api_", "alnum", 40)
prefixed("notion-integration-token", "Notion integration token", "ntn_", "alnum", 46)
prefixed("figma-pat", "Figma personal access token", "figd_", "url", 40)
prefixed("typeform-pat", "Typeform personal access token", "tfp_", "url", 59)
prefixed("adobe-client-secret", "Adobe client secret", "p8e-", "alnum", 32)
prefixed("contentful-pat", "Contentful personal access token", "CFPAT-", "url", 43)
prefixed("prefect-api-key", "Prefect API key", "pnu_", "alnum", 36)
prefixed("readme-api-key", "ReadMe API key", "rdme_", "lower", 70)
prefixed("frameio-api-token", "Frame.io API token", "fio-u-", "url", 64)
prefixed("mapbox-secret-token", "Mapbox secret access token", "sk.eyJ", "url", 60, 120)
rule("hubspot-private-app-token", "HubSpot private app token", ["pat-na1-", "pat-eu1-"],
     r"(?:^|[^0-9A-Za-z])(pat-(?:na|eu)1-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(?:$|[^0-9A-Za-z])",
     ["HUBSPOT_TOKEN=pat-na1-" + uuid()], ["HUBSPOT_TOKEN=pat-na1-00000000"], entropy=3.0)
prefixed("intra42-client-secret", "42 intra client secret", "s-s4t2ud-", "hex", 64)
prefixed("onepassword-service-account-token", "1Password service account token", "ops_eyJ", "b64", 250, 400)
rule("onepassword-secret-key", "1Password account secret key", ["a3-"],
     r"(?:^|[^0-9A-Za-z])(A3-[0-9A-Z]{6}-(?:[0-9A-Z]{11}|[0-9A-Z]{6}-[0-9A-Z]{5})-[0-9A-Z]{5}-[0-9A-Z]{5}-[0-9A-Z]{5})(?:$|[^0-9A-Za-z])",
     ["OP_SECRET_KEY=A3-" + rand("upper", 6) + "-" + rand("upper", 11) + "-" + rand("upper", 5) + "-" + rand("upper", 5) + "-" + rand("upper", 5)],
     ["A3-PAPER-SIZE"], entropy=3.0)
prefixed("zapier-webhook", "Zapier webhook URL", "hooks.zapier.com/hooks/catch/", "url", 12, 30, ctx="url")
contextual("datadog-api-key", "Datadog API key", ["datadog", "dd_api", "dd_app"], "hex", 32, 40)
contextual("honeycomb-api-key", "Honeycomb API key", ["honeycomb"], "alnum", 22, 32)
contextual("okta-api-token", "Okta API token", ["okta"], "url", 42)
contextual("auth0-client-secret", "Auth0 client secret", ["auth0"], "url", 64)
contextual("launchdarkly-access-token", "LaunchDarkly access token", ["launchdarkly"], "url", 40)
contextual("algolia-admin-key", "Algolia admin API key", ["algolia"], "hex", 32)
contextual("asana-pat", "Asana personal access token", ["asana"], "alnum", 32)
contextual("trello-api-key", "Trello API token", ["trello"], "hex", 64)
contextual("zendesk-api-token", "Zendesk API token", ["zendesk"], "alnum", 40)
contextual("intercom-access-token", "Intercom access token", ["intercom"], "url", 59, 60)
contextual("pusher-secret", "Pusher app secret", ["pusher"], "hex", 20)
contextual("ably-api-key", "Ably API key", ["ably"], "url", 43)
contextual("segment-write-key", "Segment write key", ["segment"], "alnum", 32)
contextual("mixpanel-api-secret", "Mixpanel API secret", ["mixpanel"], "hex", 32)
contextual("amplitude-secret-key", "Amplitude secret key", ["amplitude"], "hex", 32)
contextual("bugsnag-api-key", "Bugsnag API key", ["bugsnag"], "hex", 32)
contextual("rollbar-access-token", "Rollbar access token", ["rollbar"], "hex", 32)
contextual("pagerduty-api-key", "PagerDuty API key", ["pagerduty"], "url", 20)
contextual("opsgenie-api-key", "Opsgenie API key", ["opsgenie"], "hex", 32)
contextual("statuspage-api-key", "Statuspage API key", ["statuspage"], "hex", 32)
contextual("airtable-api-key", "Airtable API key", ["airtable"], "alnum", 17)
contextual("box-client-secret", "Box client secret", ["box_client", "box_developer"], "alnum", 32)
contextual("dropbox-app-secret", "Dropbox app secret", ["dropbox"], "lower", 15)
contextual("shopify-api-secret", "Shopify API secret", ["shopify"], "hex", 32)
contextual("twitch-client-secret", "Twitch client secret", ["twitch"], "lower", 30)
contextual("spotify-client-secret", "Spotify client secret", ["spotify"], "hex", 32)
contextual("cloudinary-api-secret", "Cloudinary API secret", ["cloudinary"], "url", 27)
contextual("contentstack-token", "Contentstack management token", ["contentstack"], "alnum", 30, 40)
contextual("sumologic-access-key", "Sumo Logic access key", ["sumo"], "alnum", 64)
contextual("splunk-hec-token", "Splunk HEC token", ["splunk"], "url", 36)
contextual("elastic-api-key", "Elastic Cloud API key", ["elastic"], "url", 40, 100)
contextual("fastly-api-token", "Fastly API token", ["fastly"], "url", 32)
contextual("mapbox-api-token", "Mapbox token (context)", ["mapbox"], "url", 80, 120)
contextual("kraken-api-secret", "Kraken API secret", ["kraken"], "b64", 86, 88)
contextual("coinbase-api-secret", "Coinbase API secret", ["coinbase"], "alnum", 32)
contextual("binance-api-secret", "Binance API secret", ["binance"], "alnum", 64)
contextual("freshdesk-api-key", "Freshdesk API key", ["freshdesk"], "alnum", 20)
contextual("jira-api-token", "Jira API token", ["jira"], "alnum", 24)
contextual("confluence-api-token", "Confluence API token", ["confluence"], "alnum", 24)

# ---------------------------------------------------------------- payment / commerce
rule("stripe-secret-key", "Stripe secret key", ["sk_live_", "sk_test_"],
     r"(?:^|[^0-9A-Za-z])(sk_(?:live|test)_[0-9A-Za-z]{24,99})(?:$|[^0-9A-Za-z])",
     ["STRIPE_SECRET_KEY=sk_live_" + rand("alnum", 24), 'stripe.api_key = "sk_test_' + rand("alnum", 99) + '"'],
     ["sk_not_a_real_key", "STRIPE_SECRET_KEY=sk_live_short", 'pk = "pk_live_' + rand("alnum", 24) + '"'], entropy=3.0)
rule("stripe-restricted-key", "Stripe restricted key", ["rk_live_", "rk_test_"],
     r"(?:^|[^0-9A-Za-z])(rk_(?:live|test)_[0-9A-Za-z]{24,99})(?:$|[^0-9A-Za-z])",
     ["STRIPE_RESTRICTED=rk_live_" + rand("alnum", 34)], ["rk_live_1234"], entropy=3.0)
prefixed("stripe-webhook-secret", "Stripe webhook signing secret", "whsec_", "alnum", 32, 64)
prefixed("square-access-token", "Square access token", "EAAA", "url", 60)
prefixed("square-oauth-secret", "Square OAuth secret", "sq0csp-", "url", 43)
prefixed("square-application-token", "Square application token", "sq0atp-", "url", 22)
rule("braintree-access-token", "PayPal Braintree access token", ["access_token$production$", "access_token$sandbox$"],
     r"(access_token\$(?:production|sandbox)\$[0-9a-z]{16}\$[0-9a-f]{32})",
     ["BRAINTREE=access_token$production$" + rand("lower", 16) + "$" + rand("hex", 32)], ["access_token$production$abc$def"], entropy=3.0)
prefixed("flutterwave-secret-key", "Flutterwave secret key", "FLWSECK_TEST-", "hex", 32, suffix="-X")
prefixed("flutterwave-live-secret-key", "Flutterwave live secret key", "FLWSECK-", "hex", 32, suffix="-X")
prefixed("flutterwave-encryption-key", "Flutterwave encryption key", "FLWSECK_TEST", "hex", 12, entropy=None)
rule("plaid-access-token", "Plaid access token", ["access-sandbox-", "access-development-", "access-production-"],
     r"(access-(?:sandbox|development|production)-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})",
     ["PLAID_ACCESS_TOKEN=access-production-" + uuid()], ["access-production-denied"], entropy=3.0)
prefixed("easypost-api-key", "EasyPost API key", "EZAK", "alnum", 54)
prefixed("easypost-test-api-key", "EasyPost test API key", "EZTK", "alnum", 54)
rule("shippo-api-token", "Shippo API token", ["shippo_live_", "shippo_test_"],
     r"(?:^|[^0-9A-Za-z])(shippo_(?:live|test)_[0-9a-f]{40})(?:$|[^0-9A-Za-z])",
     ["SHIPPO=shippo_live_" + rand("hex", 40)], ["shippo_live_1234"], entropy=3.0)
rule("duffel-api-token", "Duffel API token", ["duffel_test_", "duffel_live_"],
     r"(?:^|[^0-9A-Za-z])(duffel_(?:test|live)_[0-9A-Za-z_=-]{43})(?:$|[^0-9A-Za-z_=-])",
     ["DUFFEL=duffel_live_" + rand("url", 43)], ["duffel_live_x"], entropy=3.0)
prefixed("shopify-access-token", "Shopify access token", "shpat_", "hex", 32)
prefixed("shopify-custom-app-token", "Shopify custom app token", "shpca_", "hex", 32)
prefixed("shopify-private-app-token", "Shopify private app token", "shppa_", "hex", 32)
prefixed("shopify-shared-secret", "Shopify shared secret", "shpss_", "hex", 32)
prefixed("razorpay-secret", "Razorpay key secret (context)", "rzp_live_", "alnum", 14, entropy=3.0)
contextual("paypal-client-secret", "PayPal client secret", ["paypal"], "url", 80)
contextual("adyen-api-key", "Adyen API key", ["adyen"], "url", 60, 120)
contextual("gocardless-access-token", "GoCardless access token", ["gocardless"], "url", 40, 50)
contextual("mollie-api-key", "Mollie API key", ["mollie"], "alnum", 30, 40)
contextual("paystack-secret-key", "Paystack secret key", ["paystack"], "url", 40, 50)
contextual("checkout-secret-key", "Checkout.com secret key", ["checkout_secret", "cko_secret"], "url", 36, 60)
contextual("lob-api-key", "Lob API key", ["lob_api", "lob_key"], "url", 35, 45)

# ---------------------------------------------------------------- chat / messaging / email
rule("slack-bot-token", "Slack bot token", ["xoxb-"],
     r"(xoxb-[0-9]{10,13}-[0-9]{10,13}[0-9A-Za-z-]*)",
     ["SLACK_BOT_TOKEN=xoxb-" + str(rng.randrange(10**11, 10**12)) + "-" + str(rng.randrange(10**12, 10**13)) + "-" + rand("alnum", 24)],
     ["xoxb-2048-352-1234567890abcdef", "SLACK_BOT_TOKEN=xoxb-your-token"], entropy=3.0)
rule("slack-user-token", "Slack user or enterprise token", ["xoxp-", "xoxe-"],
     r"(xox[pe](?:-[0-9]{10,13}){3}-[0-9A-Za-z]{28,34})",
     ["SLACK_TOKEN=xoxp-" + "-".join(str(rng.randrange(10**11, 10**12)) for _ in range(3)) + "-" + rand("alnum", 32)],
     ["SLACK_TOKEN=xoxp-123-456"], entropy=3.0)
rule("slack-app-token", "Slack app-level token", ["xapp-"],
     r"(?i)(xapp-[0-9]-[A-Z0-9]+-[0-9]+-[a-z0-9]+)",
     ["SLACK_APP_TOKEN=xapp-1-A" + rand("upper", 10) + "-" + str(rng.randrange(10**12, 10**13)) + "-" + rand("hex", 64)],
     ["xapp-token"], entropy=3.0)
rule("slack-config-token", "Slack configuration token", ["xoxe.xox"],
     r"(xoxe\.xox[bp]-[0-9]-[0-9A-Z]{163,166})",
     ["SLACK_CONFIG=xoxe.xoxp-1-" + rand("upper", 164)], ["xoxe.xoxp-1-ABC"], entropy=3.0)
rule("slack-legacy-token", "Slack legacy token", ["xoxo-", "xoxs-", "xoxa-", "xoxr-"],
     r"(xox[osar]-[0-9]+-[0-9]+-[0-9]+-[0-9A-Fa-f]{20,})",
     ["SLACK=xoxs-" + str(rng.randrange(10**9, 10**10)) + "-" + str(rng.randrange(10**9, 10**10)) + "-" + str(rng.randrange(10**9, 10**10)) + "-" + rand("hex", 64)],
     ["xoxs-1-2-3"], entropy=3.0)
rule("slack-webhook-url", "Slack incoming webhook URL", ["hooks.slack.com/"],
     r"(hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/]{43,56})",
     ["SLACK_WEBHOOK=https://hooks.slack.com/services/T" + rand("upper", 8) + "/B" + rand("upper", 10) + "/" + rand("alnum", 24)],
     ["see https://hooks.slack.com/services/ for docs"], entropy=3.0)
rule("discord-webhook-url", "Discord webhook URL", ["discord.com/api/webhooks/", "discordapp.com/api/webhooks/"],
     r"(discord(?:app)?\.com/api/webhooks/[0-9]{17,20}/[A-Za-z0-9_-]{60,68})",
     ["DISCORD_WEBHOOK=https://discord.com/api/webhooks/" + str(rng.randrange(10**17, 10**18)) + "/" + rand("url", 68)],
     ["https://discord.com/api/webhooks/123/abc"], entropy=3.0)
rule("discord-bot-token", "Discord bot token", ["discord"],
     r"(?i)discord[0-9a-z_.-]{0,30}[\"'`]?\s*(?:=|:|=>)\s*[\"'`]?(?-i:([MN][A-Za-z0-9]{23,25}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,38}))",
     ["DISCORD_BOT_TOKEN=M" + rand("alnum", 23) + "." + rand("url", 6) + "." + rand("url", 27)],
     ["DISCORD_BOT_TOKEN=${DISCORD_BOT_TOKEN}"], entropy=3.0)
rule("telegram-bot-token", "Telegram bot token", [":aa"],
     r"(?:^|[^0-9A-Za-z]|bot)([0-9]{8,10}:AA[0-9A-Za-z_-]{33})(?:$|[^0-9A-Za-z_-])",
     ["TELEGRAM_BOT_TOKEN=" + str(rng.randrange(10**8, 10**9)) + ":AA" + rand("url", 33)], ["12:AAshort"], entropy=3.0)
rule("microsoft-teams-webhook", "Microsoft Teams incoming webhook", ["webhook.office.com"],
     r"(https://[a-z0-9-]+\.webhook\.office\.com/webhookb2/[a-z0-9-]{36}@[a-z0-9-]{36}/IncomingWebhook/[a-z0-9]{32}/[a-z0-9-]{36})",
     ["TEAMS=https://acme.webhook.office.com/webhookb2/" + uuid() + "@" + uuid() + "/IncomingWebhook/" + rand("hex", 32) + "/" + uuid()],
     ["https://acme.webhook.office.com/webhookb2/"], entropy=3.0)
rule("twilio-api-key", "Twilio API key SID", ["twilio"],
     r"(?i)twilio[0-9a-z_.-]{0,30}[\"'`]?\s*(?:=|:|=>)\s*[\"'`]?(?-i:(SK[0-9a-fA-F]{32}))",
     ["TWILIO_API_KEY=SK" + rand("hex", 32)], ["TWILIO_API_KEY=SK1234"], entropy=3.0)
contextual("twilio-auth-token", "Twilio auth token", ["twilio"], "hex", 32)
rule("mailchimp-api-key", "Mailchimp API key", ["-us"],
     r"(?:^|[^0-9A-Za-z])([0-9a-f]{32}-us[0-9]{1,2})(?:$|[^0-9A-Za-z])",
     ["MAILCHIMP_API_KEY=" + rand("hex", 32) + "-us14"], ["en-us", "MAILCHIMP_API_KEY=abc-us14"], entropy=3.0)
prefixed("mailgun-private-key", "Mailgun private API key", "key-", "hex", 32)
rule("sendgrid-api-key", "SendGrid API key", ["sg."],
     r"(?:^|[^0-9A-Za-z])(SG\.[0-9A-Za-z_-]{22}\.[0-9A-Za-z_-]{43})(?:$|[^0-9A-Za-z_-])",
     ["SENDGRID_API_KEY=SG." + rand("url", 22) + "." + rand("url", 43)], ["SG.short.key"], entropy=3.0)
rule("brevo-api-key", "Brevo (Sendinblue) API key", ["xkeysib-"],
     r"(xkeysib-[0-9a-f]{64}-[0-9A-Za-z]{16})",
     ["BREVO_API_KEY=xkeysib-" + rand("hex", 64) + "-" + rand("alnum", 16)], ["xkeysib-1234"], entropy=3.0)
contextual("postmark-server-token", "Postmark server token", ["postmark"], "hex", 32)
contextual("mandrill-api-key", "Mandrill API key", ["mandrill"], "url", 22)
contextual("mailjet-secret-key", "Mailjet secret key", ["mailjet"], "hex", 32)
contextual("messagebird-api-key", "MessageBird API key", ["messagebird"], "alnum", 25)
contextual("vonage-api-secret", "Vonage / Nexmo API secret", ["vonage", "nexmo"], "alnum", 16)
contextual("plivo-auth-token", "Plivo auth token", ["plivo"], "alnum", 40)
contextual("sinch-api-secret", "Sinch API secret", ["sinch"], "hex", 32)
contextual("mattermost-access-token", "Mattermost access token", ["mattermost"], "lower", 26)
contextual("zulip-api-key", "Zulip API key", ["zulip"], "alnum", 32)
contextual("sendbird-api-token", "Sendbird API token", ["sendbird"], "hex", 40)
contextual("facebook-app-secret", "Facebook app secret", ["facebook", "fb_app"], "hex", 32)
contextual("twitter-api-secret", "Twitter / X API secret", ["twitter"], "alnum", 50)
contextual("linkedin-client-secret", "LinkedIn client secret", ["linkedin"], "alnum", 16)
prefixed("facebook-access-token", "Facebook / Meta access token", "EAAC", "alnum", 100, 200)
prefixed("twitter-bearer-token", "Twitter / X bearer token", "AAAAAAAAAAAAAAAAAAAAA", "alnum", 40, 120)
prefixed("google-oauth-access-token", "Google OAuth access token", "ya29.", "url", 30, 400)
prefixed("google-oauth-refresh-token", "Google OAuth refresh token", "1//0", "url", 30, 200)

# ---------------------------------------------------------------- AI providers
prefixed("openai-project-key", "OpenAI project / service-account key", "sk-proj-", "url", 40, 200)
prefixed("openai-service-account-key", "OpenAI service account key", "sk-svcacct-", "url", 40, 200)
prefixed("openai-admin-key", "OpenAI admin key", "sk-admin-", "url", 40, 200)
rule("openai-api-key", "OpenAI API key (legacy)", ["t3blbkfj"],
     r"(?:^|[^0-9A-Za-z])(sk-[0-9A-Za-z]{20}T3BlbkFJ[0-9A-Za-z]{20})(?:$|[^0-9A-Za-z])",
     ["OPENAI_API_KEY=sk-" + rand("alnum", 20) + "T3BlbkFJ" + rand("alnum", 20)], ["sk-T3BlbkFJ"], entropy=3.0)
rule("anthropic-api-key", "Anthropic API key", ["sk-ant-api"],
     r"(sk-ant-api[0-9]{2}-[0-9A-Za-z_-]{80,100}AA)",
     ["ANTHROPIC_API_KEY=sk-ant-api03-" + rand("url", 93) + "AA"], ["ANTHROPIC_API_KEY=sk-ant-api03-xxxx"], entropy=3.0)
rule("anthropic-admin-key", "Anthropic admin key", ["sk-ant-admin"],
     r"(sk-ant-admin[0-9]{2}-[0-9A-Za-z_-]{80,100}AA)",
     ["ANTHROPIC_ADMIN_KEY=sk-ant-admin01-" + rand("url", 93) + "AA"], ["sk-ant-admin01-"], entropy=3.0)
prefixed("huggingface-token", "Hugging Face access token", "hf_", "letters", 34)
prefixed("huggingface-org-token", "Hugging Face organization token", "api_org_", "letters", 34)
prefixed("groq-api-key", "Groq API key", "gsk_", "alnum", 52)
prefixed("replicate-api-token", "Replicate API token", "r8_", "alnum", 37)
prefixed("perplexity-api-key", "Perplexity API key", "pplx-", "alnum", 48)
prefixed("xai-api-key", "xAI API key", "xai-", "alnum", 80)
prefixed("openrouter-api-key", "OpenRouter API key", "sk-or-v1-", "hex", 64)
prefixed("fireworks-api-key", "Fireworks AI API key", "fw_", "alnum", 24)
rule("langsmith-api-key", "LangSmith API key", ["lsv2_pt_", "lsv2_sk_"],
     r"(lsv2_(?:pt|sk)_[0-9a-f]{32}_[0-9a-f]{10})",
     ["LANGCHAIN_API_KEY=lsv2_pt_" + rand("hex", 32) + "_" + rand("hex", 10)], ["lsv2_pt_1234"], entropy=3.0)
rule("pinecone-api-key", "Pinecone API key", ["pcsk_"],
     r"(pcsk_[0-9A-Za-z]{5,6}_[0-9A-Za-z]{60,70})",
     ["PINECONE_API_KEY=pcsk_" + rand("alnum", 5) + "_" + rand("alnum", 63)], ["pcsk_123_456"], entropy=3.0)
prefixed("nvidia-api-key", "NVIDIA NGC / API catalog key", "nvapi-", "url", 64)
contextual("cohere-api-key", "Cohere API key", ["cohere", "co_api"], "alnum", 40)
contextual("mistral-api-key", "Mistral API key", ["mistral"], "alnum", 32)
rule("deepseek-api-key", "DeepSeek API key", ["deepseek"],
     r"(?i)deepseek[0-9a-z_.-]{0,30}[\"'`]?\s*(?:=|:|=>)\s*[\"'`]?(?-i:(sk-[0-9a-f]{32}))",
     ["DEEPSEEK_API_KEY=sk-" + rand("hex", 32)], ["DEEPSEEK_API_KEY=sk-1234"], entropy=3.0)
contextual("together-api-key", "Together AI API key", ["together"], "hex", 64)
contextual("assemblyai-api-key", "AssemblyAI API key", ["assemblyai"], "hex", 32)
contextual("elevenlabs-api-key", "ElevenLabs API key", ["elevenlabs", "xi_api"], "hex", 32, 51)
contextual("deepgram-api-key", "Deepgram API key", ["deepgram"], "hex", 40)
contextual("stability-api-key", "Stability AI API key", ["stability"], "url", 48, 51)
contextual("azure-openai-key", "Azure OpenAI key", ["azure_openai", "aoai"], "hex", 32)
contextual("voyage-api-key", "Voyage AI API key", ["voyage"], "url", 40, 50)
contextual("weights-and-biases-api-key", "Weights & Biases API key", ["wandb"], "hex", 40)

# ---------------------------------------------------------------- databases / connection strings
rule("connection-string-password", "Database or broker URL with an embedded password",
     ["postgres://", "postgresql://", "mysql://", "mariadb://", "mongodb://", "mongodb+srv://", "redis://", "rediss://",
      "amqp://", "amqps://", "mssql://", "sqlserver://", "clickhouse://", "cockroachdb://", "neo4j://", "bolt://", "couchbase://",
      "nats://", "kafka://", "oracle://", "db2://", "snowflake://", "memcached://"],
     r"(?i)(?:postgres(?:ql)?|mysql|mariadb|mongodb(?:\+srv)?|rediss?|amqps?|mssql|sqlserver|clickhouse|cockroachdb|neo4j|bolt|couchbase|nats|kafka|oracle|db2|snowflake|memcached)://[^\s:/@\"'`]{0,64}:([^\s@/\"'`]{3,128})@[^\s\"'`]{2,}",
     ["DATABASE_URL=postgres://app:" + rand("alnum", 18) + "@db.internal:5432/app",
      'mongo = "mongodb+srv://svc:' + rand("alnum", 24) + '@cluster0.mongodb.net/prod"',
      "REDIS_URL=rediss://default:" + rand("alnum", 20) + "@cache.internal:6380"],
     ["postgres://localhost:5432/db", "DATABASE_URL=postgres://app:${DB_PASSWORD}@db:5432/app",
      "postgres://user:password@localhost:5432/db", "mysql://root:<password>@localhost/test"])
rule("url-basic-auth", "HTTP(S)/FTP URL with credentials in the userinfo", ["http://", "https://", "ftp://", "sftp://", "ssh://", "git+https://", "smtp://", "smtps://", "ldap://", "ldaps://"],
     r"(?i)\b(?:https?|s?ftp|ssh|git\+https|smtps?|ldaps?)://[0-9A-Za-z_.%+-]{1,64}:([^\s@/:\"'`<>{}$]{6,128})@[0-9A-Za-z.-]+\.[a-z]{2,}",
     ["GIT_URL=https://deploy:" + rand("alnum", 20) + "@git.example-corp.io/repo.git",
      "SMTP_URL=smtp://mailer:" + rand("alnum", 16) + "@smtp.mailhost.net:587"],
     ["https://user:password@example.com", "https://git:${GIT_TOKEN}@github.com/a/b", "http://localhost:8080/path", "https://user@example.com"])
rule("jdbc-password", "JDBC URL with a password parameter", ["jdbc:"],
     r"(?i)jdbc:[a-z0-9]+:[^\s\"'`]*?[?;&]password=([^&;\s\"'`]{4,})",
     ["spring.datasource.url=jdbc:postgresql://db:5432/app?user=app&password=" + rand("alnum", 16),
      "url=jdbc:sqlserver://db:1433;databaseName=app;user=sa;password=" + rand("alnum", 14) + ";"],
     ["jdbc:postgresql://db:5432/app?user=app", "jdbc:mysql://db/app?password=${DB_PASS}"])
rule("ado-connection-string-password", "ADO.NET / ODBC connection string with a password", ["password=", "pwd="],
     r"(?i)(?:server|data source|host|uid|user id|database|initial catalog)=[^;\"'\n]{1,100};[^\"'\n]{0,200}?\b(?:password|pwd)=([^;\"'\s]{4,128})",
     ['"Server=tcp:db.internal,1433;Database=app;User ID=app;Password=' + rand("alnum", 16) + ';"'],
     ['"Server=tcp:db,1433;Database=app;User ID=app;Password=${SQL_PASSWORD};"', "Server=db;Database=app;Integrated Security=true;"])
rule("cloudinary-url", "Cloudinary URL with API secret", ["cloudinary://"],
     r"cloudinary://[0-9]{10,18}:([0-9A-Za-z_-]{20,40})@[0-9a-z_-]+",
     ["CLOUDINARY_URL=cloudinary://" + str(rng.randrange(10**14, 10**15)) + ":" + rand("url", 27) + "@acme"], ["cloudinary://123:abc@acme"], entropy=3.0)
rule("redis-requirepass", "Redis requirepass directive", ["requirepass"],
     r"(?i)^\s*requirepass\s+([^\s#]{8,})", ["requirepass " + rand("alnum", 24)], ["requirepass foobared", "# requirepass <password>"], entropy=2.5)
contextual("snowflake-password", "Snowflake password", ["snowflake"], "url", 16, 64)
rule("mongodb-atlas-private-key", "MongoDB Atlas API private key", ["atlas"],
     r"(?i)atlas[0-9a-z_.-]{0,20}private[0-9a-z_.-]{0,10}[\"'`]?\s*(?:=|:|=>)\s*[\"'`]?(?-i:([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}))",
     ["MONGODB_ATLAS_PRIVATE_KEY=" + uuid()], ["MONGODB_ATLAS_PRIVATE_KEY=${KEY}"], entropy=3.0)
contextual("fauna-secret", "Fauna secret", ["fauna"], "url", 40)
contextual("firebase-database-secret", "Firebase database secret", ["firebase_secret", "firebase_database"], "alnum", 40)
contextual("influxdb-token", "InfluxDB token", ["influx"], "url", 86, 88)

# ---------------------------------------------------------------- keys / tokens
PEM_BODY = r"[0-9A-Za-z+/=:,. \t\r\n-]{64,16384}?"
def pem(id, desc, label, kw):
    body = "\n".join(rand("b64", 64) for _ in range(5))
    rule(id, desc, kw,
         r"(-----BEGIN " + label + r"-----" + PEM_BODY + r"-----END " + label + r"-----)",
         ["-----BEGIN " + label.replace("\\", "") + "-----\n" + body + "\n-----END " + label.replace("\\", "") + "-----"],
         ["-----BEGIN " + label.replace("\\", "") + "-----\n...\n-----END " + label.replace("\\", "") + "-----",
          "-----BEGIN PUBLIC KEY-----\n" + body + "\n-----END PUBLIC KEY-----"],
         entropy=4.0, multiline=True)
pem("private-key-rsa", "RSA private key", "RSA PRIVATE KEY", ["-----begin rsa private key-----"])
pem("private-key-ec", "EC private key", "EC PRIVATE KEY", ["-----begin ec private key-----"])
pem("private-key-dsa", "DSA private key", "DSA PRIVATE KEY", ["-----begin dsa private key-----"])
pem("private-key-openssh", "OpenSSH private key", "OPENSSH PRIVATE KEY", ["-----begin openssh private key-----"])
pem("private-key-pkcs8", "PKCS#8 private key", "PRIVATE KEY", ["-----begin private key-----"])
pem("private-key-encrypted", "Encrypted PKCS#8 private key", "ENCRYPTED PRIVATE KEY", ["-----begin encrypted private key-----"])
pem("pgp-private-key-block", "PGP private key block", "PGP PRIVATE KEY BLOCK", ["-----begin pgp private key block-----"])
rule("private-key-escaped", "PEM private key inside a JSON string (escaped newlines)", ["private key-----\\n"],
     r"(-----BEGIN[A-Z ]{0,20} PRIVATE KEY-----\\n[0-9A-Za-z+/=\\]{64,16384}?-----END[A-Z ]{0,20} PRIVATE KEY-----)",
     ['  "private_key": "-----BEGIN PRIVATE KEY-----\\n' + "\\n".join(rand("b64", 64) for _ in range(4)) + '\\n-----END PRIVATE KEY-----\\n",'],
     ['  "private_key": "-----BEGIN PRIVATE KEY-----\\n...\\n-----END PRIVATE KEY-----\\n",'], entropy=4.0)
rule("putty-private-key", "PuTTY private key file", ["putty-user-key-file-"],
     r"(PuTTY-User-Key-File-[23]: [a-z0-9-]+[\s\S]{0,2000}?Private-Lines: [0-9]+\s+[0-9A-Za-z+/=\s]{40,})",
     ["PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: key\nPublic-Lines: 2\n" + rand("b64", 64) + "\n" + rand("b64", 16) + "\nPrivate-Lines: 1\n" + rand("b64", 48)],
     ["PuTTY-User-Key-File-3 is the header"], entropy=3.0, multiline=True)
rule("age-secret-key", "age secret key", ["age-secret-key-1"],
     r"(AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58})",
     ["AGE-SECRET-KEY-1" + "".join(rng.choice("QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L") for _ in range(58))],
     ["# public key: age1" + "".join(rng.choice("qpzry9x8gf2tvdw0s3jn54khce6mua7l") for _ in range(58)), "AGE-SECRET-KEY-1XXXX"], entropy=3.0)
rule("jwt", "JSON Web Token", ["eyj"],
     r"(?:^|[^0-9A-Za-z_-])(eyJ[0-9A-Za-z_-]{10,}\.eyJ[0-9A-Za-z_-]{10,}\.[0-9A-Za-z_-]{16,})(?:$|[^0-9A-Za-z_-])",
     ["Authorization: Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI" + rand("url", 40) + "." + rand("url", 43)],
     ["data = eyJhbGciOiJIUzI1NiJ9", "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0."], entropy=3.0)
rule("authorization-bearer", "Bearer token in an Authorization header", ["bearer "],
     r"(?i)authorization[\"'`]?\s*[:=]\s*[\"'`]?bearer\s+(?-i:([0-9A-Za-z._~+/-]{24,}=*))",
     ['curl -H "Authorization: Bearer ' + rand("url", 40) + '" https://api.internal'],
     ['curl -H "Authorization: Bearer $TOKEN"', 'headers["Authorization"] = "Bearer " + token'], entropy=3.5)
rule("authorization-basic", "Basic credentials in an Authorization header", ["basic "],
     r"(?i)authorization[\"'`]?\s*[:=]\s*[\"'`]?basic\s+(?-i:([0-9A-Za-z+/]{16,}={0,2}))",
     ['curl -H "Authorization: Basic ' + rand("b64", 32) + '=="'],
     ['curl -H "Authorization: Basic $CREDS"'], entropy=3.5)
rule("netrc-password", "Password in a .netrc entry", ["machine "],
     r"(?i)machine\s+\S+\s+login\s+\S+\s+password\s+([^\s]{6,})",
     ["machine api.heroku.com login ci@acme.io password " + rand("url", 36)], ["machine example.com login me password ${PASS}"], entropy=3.0)
rule("kubeconfig-client-key", "Client key data in a kubeconfig", ["client-key-data"],
     r"client-key-data:\s*([0-9A-Za-z+/]{100,}={0,2})",
     ["    client-key-data: " + rand("b64", 160) + "=="], ["    client-key-data: REDACTED"], entropy=4.0)
rule("xml-password-element", "Password element in XML config (Maven settings, etc.)", ["<password>"],
     r"<password>([^<${}\s]{6,128})</password>",
     ["      <password>" + rand("alnum", 20) + "</password>"], ["      <password>${env.MAVEN_PASSWORD}</password>", "<password></password>"], entropy=2.5)
rule("htpasswd-plain", "Apache htpasswd entry with a plaintext password", ["{plain}"],
     r"(?i)^[a-z0-9_.-]+:\{PLAIN\}(\S{6,})",
     ["admin:{PLAIN}" + rand("alnum", 16)], ["admin:{PLAIN}x"], entropy=2.5)
rule("wireguard-private-key", "WireGuard private key", ["privatekey"],
     r"(?i)PrivateKey\s*=\s*(?-i:([0-9A-Za-z+/]{42}[AEIMQUYcgkosw480]=))",
     ["PrivateKey = " + rand("b64", 42) + "A="], ["PrivateKey = <redacted>"], entropy=3.5)
rule("ssh-password-sshpass", "Password passed to sshpass", ["sshpass"],
     r"sshpass\s+-p\s*[\"']?([^\s\"']{6,})", ["sshpass -p '" + rand("alnum", 14) + "' ssh deploy@host"], ["sshpass -p \"$PASS\" ssh host"], entropy=2.5)
rule("mysql-cli-password", "Password on a mysql/mysqldump command line", ["mysql", "mysqldump"],
     r"\bmysql(?:dump|admin)?\b[^\n]{0,100}\s(?:-p|--password=)([^\s\"'$]{6,})",
     ["mysql -u root -p" + rand("alnum", 14) + " appdb"], ["mysql -u root -p appdb", "mysql -u root --password=$MYSQL_PWD"], entropy=2.5)
rule("dockerfile-env-secret", "Secret baked into a Dockerfile ENV", ["env "],
     r"(?i)^ENV\s+[A-Z0-9_]*(?:PASSWORD|SECRET|TOKEN|API_KEY)[A-Z0-9_]*[= ]\s*[\"']?([^\s\"'$]{8,})",
     ["ENV DB_PASSWORD=" + rand("alnum", 18)], ["ENV DB_PASSWORD=${DB_PASSWORD}", "ENV TOKEN_TTL=3600"], entropy=3.0)

import sys


def toml_str(s):
    if "'''" not in s and "\n" not in s and "'" not in s:
        return "'" + s + "'"
    if "'''" not in s and not s.endswith("'"):
        return "'''" + ("\n" if s.startswith("\n") else "") + s + "'''"
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def toml_ml(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'


out = sys.stdout
out.write("# Built-in rules of clef-scan. GENERATED by gen_rules.py from its rule table; edit the script,\n")
out.write("# then regenerate. Example values are random and were never issued by any provider.\n")
out.write("# Fields: id, description, keywords (lowercase; any hit enables the rule), regex (Rust regex,\n")
out.write("# group `group` is the secret), entropy (minimum Shannon bits/char of the secret), multiline\n")
out.write("# (the match may span lines), examples (must be found), negatives (must not be found).\n\n")
seen = set()
for r in rules:
    assert r["id"] not in seen, r["id"]
    seen.add(r["id"])
    out.write("[[rules]]\n")
    out.write(f"id = {toml_ml(r['id'])}\n")
    out.write(f"description = {toml_ml(r['desc'])}\n")
    out.write("keywords = [" + ", ".join(toml_ml(k) for k in r["keywords"]) + "]\n")
    out.write(f"regex = {toml_str(r['regex'].replace(chr(92) + chr(34), chr(34)))}\n")
    if r["group"] != 1:
        out.write(f"group = {r['group']}\n")
    if r["entropy"] is not None:
        out.write(f"entropy = {r['entropy']}\n")
    if r["multiline"]:
        out.write("multiline = true\n")
    out.write("examples = [\n" + "".join(f"  {toml_ml(e)},\n" for e in r["examples"]) + "]\n")
    out.write("negatives = [\n" + "".join(f"  {toml_ml(e)},\n" for e in r["negatives"]) + "]\n\n")
sys.stderr.write(f"{len(rules)} rules\n")
