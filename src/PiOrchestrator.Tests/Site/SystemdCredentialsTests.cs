using Microsoft.Extensions.Configuration;
using PiOrchestrator.Site;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.Site;

/// <summary>The files systemd puts in $CREDENTIALS_DIRECTORY, read by the key-per-file provider under their settings' names.</summary>
public sealed class SystemdCredentialsTests
{
    [Fact]
    public void Each_credential_file_becomes_its_setting_without_trailing_newlines_and_between_env_and_command_line()
    {
        using var credentials = new TempDirectory();
        void Write(string name, string content) => File.WriteAllText(Path.Combine(credentials.Path, name), content);
        Write("s3-access-key", "AKIA-cred\n");
        Write("s3-secret-key", "secret-cred\r\n");
        Write("mqtt-password", "pass\nword\n\n");
        Write("api-key", "api-cred");
        // Named as the key-per-file provider would map them to settings: not credentials this agent takes.
        Write("S3__Bucket", "planted");
        Write("Mqtt__Host", "planted");

        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection([new("S3:AccessKey", "from-env"), new("Api:Key", "from-env"), new("S3:Bucket", "site-bucket")])
            .AddSystemdCredentials(credentials.Path)
            .AddInMemoryCollection([new("Api:Key", "from-command-line")])
            .Build();

        Assert.Equal("AKIA-cred", configuration["S3:AccessKey"]);
        Assert.Equal("secret-cred", configuration["S3:SecretKey"]);
        Assert.Equal("pass\nword", configuration["Mqtt:Password"]);
        Assert.Equal("from-command-line", configuration["Api:Key"]);
        Assert.Equal("site-bucket", configuration["S3:Bucket"]);
        Assert.Null(configuration["Mqtt:Host"]);
        Assert.DoesNotContain(configuration.AsEnumerable(), setting => setting.Value == "planted" || setting.Key.Contains("s3-", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("/nonexistent/credentials")]
    public void No_credentials_directory_gives_no_settings(string? directory)
    {
        var configuration = new ConfigurationBuilder().AddSystemdCredentials(directory).Build();
        Assert.Empty(configuration.AsEnumerable());
    }
}
