namespace App;
public static class Defaults
{
    public static readonly Dictionary<string, string> Values = new()
    {
        ["CLIENT_SECRET"] = "7FNaV2GcW8DbDLLSiW9Cbxs3wn1Azrwd",
        ["AWS_SECRET_ACCESS_KEY"] = "wSFU84kf28jPa7CNvn1BFGPy+RYcHIfJ+VoLiQYM",
        ["DbPassword"] = "W#o4mW58e5tV#6",
        ["TokenHeader"] = "X-Api-Token",
        ["ApiKey"] = Environment.GetEnvironmentVariable("API_KEY"),
        ["SecretName"] = "prod/app/db",
    };
}
