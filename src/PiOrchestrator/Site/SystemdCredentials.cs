namespace PiOrchestrator.Site;

/// <summary>
/// Secrets handed over by systemd (<c>LoadCredential=</c> in the unit): each is a file in
/// <c>$CREDENTIALS_DIRECTORY</c>, readable only by this service, never in the environment or /etc.
/// </summary>
public static class SystemdCredentials
{
    /// <summary>Credential name → configuration key.</summary>
    public static readonly IReadOnlyDictionary<string, string> Names = new Dictionary<string, string>
    {
        ["s3-access-key"] = "S3:AccessKey",
        ["s3-secret-key"] = "S3:SecretKey",
        ["mqtt-password"] = "Mqtt:Password",
        ["api-key"] = "Api:Key",
    };

    /// <summary>The credentials present in <paramref name="directory"/>, as configuration values (trailing newline dropped).</summary>
    public static Dictionary<string, string?> Read(string? directory)
    {
        var values = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        if (string.IsNullOrEmpty(directory)) return values;
        foreach (var (name, key) in Names)
        {
            var file = Path.Combine(directory, name);
            if (!File.Exists(file)) continue;
            values[key] = File.ReadAllText(file).TrimEnd('\r', '\n');
        }
        return values;
    }
}
