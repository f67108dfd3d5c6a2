using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace PiOrchestrator.Store;

public sealed class StorageOptions
{
    /// <summary>Empty means systemd's $STATE_DIRECTORY, else ~/.local/share/piorchestrator.</summary>
    public string DataDirectory { get; set; } = "";

    /// <summary>
    /// Space kept in reserve.space in the data directory: released when the disk fills up, so failed captures and
    /// session records can still be written, and taken back when space returns.
    /// </summary>
    [Range(64, 1_048_576)]
    public int DiskReserveKilobytes { get; set; } = 8192;

    [Range(0, 4096)]
    public int MemoryCacheMegabytes { get; set; } = 64;

    /// <summary>Hours an uploaded capture's bytes stay on the card; fractions allowed (short values for tests and soak runs).</summary>
    [Range(0.0001, 24 * 365)]
    public double ImageTtlHours { get; set; } = 24;

    /// <summary>Days sessions, evidence rows and door event ids are kept; fractions allowed (short values for tests and soak runs).</summary>
    [Range(0.00001, 3650)]
    public double MetadataRetentionDays { get; set; } = 90;

    /// <summary>Minutes between retention passes; fractions allowed (short values for tests and soak runs).</summary>
    [Range(0.001, 24 * 60)]
    public double RetentionIntervalMinutes { get; set; } = 10;

    /// <summary>
    /// The size the SQLite WAL file is cut back to after each checkpoint (journal_size_limit): one burst of photos must
    /// not leave a large file on the SD card for good. Checkpoints run every <see cref="WalCheckpointPages"/> pages.
    /// </summary>
    [Range(256, 1_048_576)]
    public int WalLimitKilobytes { get; set; } = 4096;

    /// <summary>WAL pages between automatic checkpoints (wal_autocheckpoint): fewer, larger writes suit an SD card.</summary>
    [Range(100, 100_000)]
    public int WalCheckpointPages { get; set; } = 1000;

    /// <summary>The largest frame accepted from a camera (the contract allows 5 MB).</summary>
    [Range(1024, 64 * 1024 * 1024)]
    public int MaxImageBytes { get; set; } = 5 * 1024 * 1024;

    public string ResolveDataDirectory()
    {
        if (!string.IsNullOrWhiteSpace(DataDirectory)) return Path.GetFullPath(DataDirectory);
        var state = Environment.GetEnvironmentVariable("STATE_DIRECTORY");
        if (!string.IsNullOrWhiteSpace(state)) return state.Split(':')[0];
        return Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.Create), "piorchestrator");
    }
}

/// <summary>The attribute checks of <see cref="StorageOptions"/>, generated at compile time (no reflection, safe to trim).</summary>
[OptionsValidator]
internal sealed partial class StorageOptionsAnnotations : IValidateOptions<StorageOptions>
{
}
