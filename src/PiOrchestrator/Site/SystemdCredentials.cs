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

    /// <summary>
    /// The credentials present in <paramref name="directory"/> as configuration values (trailing newlines dropped), read
    /// by the key-per-file provider. Its keys are the file names, and these keep systemd's spelling (the unit and the
    /// package name them), so each is renamed to its setting; a file of another name is not read.
    /// </summary>
    public static IConfigurationBuilder AddSystemdCredentials(this IConfigurationBuilder builder, string? directory)
    {
        if (string.IsNullOrEmpty(directory)) return builder;
        var files = new ConfigurationBuilder()
            .AddKeyPerFile(source =>
            {
                if (Directory.Exists(directory)) source.FileProvider = new Microsoft.Extensions.FileProviders.PhysicalFileProvider(Path.GetFullPath(directory));
                source.Optional = true;
                source.IgnoreCondition = name => !Names.ContainsKey(name);
            })
            .Build();
        // The provider drops one newline; a file written on Windows or by `echo` twice ends in more.
        return builder.AddInMemoryCollection(Names
            .Where(credential => files[credential.Key] is not null)
            .Select(credential => KeyValuePair.Create<string, string?>(credential.Value, files[credential.Key]!.TrimEnd('\r', '\n'))));
    }
}
