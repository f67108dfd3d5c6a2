using Microsoft.Extensions.Options;
using PiOrchestrator.Hosting;
using PiOrchestrator.Store;

namespace PiOrchestrator.Access;

/// <summary>
/// The key the one-time codes are hashed with: the systemd credential <c>invite-pepper</c> when the unit hands one
/// over, else <c>invite-pepper</c> in the data directory, made at first use with mode 0600. It is read when the first
/// invite is minted or joined, so an agent that never invites anyone never writes it.
/// </summary>
public sealed class InvitePepper(IOptions<StorageOptions> storage, ILogger<InvitePepper> log)
{
    public const string FileName = "invite-pepper";
    private const int MinimumBytes = 16;

    private readonly Lazy<byte[]> _value = new(() => Load(storage.Value.ResolveDataDirectory(), Environment.GetEnvironmentVariable("CREDENTIALS_DIRECTORY"), log));

    public byte[] Value => _value.Value;

    /// <summary>Where the pepper came from: "credential" or "data directory" (for the log and tests).</summary>
    public static byte[] Load(string dataDirectory, string? credentialsDirectory, ILogger log)
    {
        var credential = string.IsNullOrEmpty(credentialsDirectory) ? null : Path.Combine(credentialsDirectory, FileName);
        if (credential is not null && File.Exists(credential)) return Read(credential);
        var path = Path.Combine(dataDirectory, FileName);
        if (!File.Exists(path)) Create(dataDirectory, path, log);
        return Read(path);
    }

    private static byte[] Read(string path)
    {
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length < MinimumBytes)
            throw new ConfigurationException($"the invite pepper {path} has {bytes.Length} bytes; it needs at least {MinimumBytes} random bytes");
        return bytes;
    }

    /// <summary>Created 0600 under a temporary name, synced, then renamed: a crash leaves no half pepper.</summary>
    private static void Create(string directory, string path, ILogger log)
    {
        Directory.CreateDirectory(directory);
        var temp = path + ".tmp";
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, Options = FileOptions.WriteThrough };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using (var file = new FileStream(temp, options))
        {
            file.Write(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
            file.Flush(flushToDisk: true);
        }
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(temp, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.Move(temp, path);
        log.LogInformation("Made the invite pepper {Path}", path);
    }
}
