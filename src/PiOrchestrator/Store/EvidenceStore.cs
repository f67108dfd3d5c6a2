using System.Collections.Concurrent;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;

namespace PiOrchestrator.Store;

/// <summary>
/// Sessions, evidence rows and JPEG bytes in one SQLite file (WAL, synchronous=FULL: a committed capture
/// survives a power cut). One writer connection serialised by a lock; readers use pooled connections.
/// </summary>
public sealed partial class EvidenceStore : IDisposable
{
    private readonly string _connectionString;
    private readonly SqliteConnection _writer;
    private readonly Lock _writeLock = new();
    private readonly ConcurrentDictionary<string, long> _revisions = new(StringComparer.Ordinal);
    private readonly ILogger<EvidenceStore> _log;

    public EvidenceStore(IOptions<StorageOptions> options, ILogger<EvidenceStore> log, DeviceKey? deviceKey = null, ClockTrust? clock = null)
    {
        _log = log;
        _deviceKey = deviceKey;
        _clock = clock;
        DataDirectory = options.Value.ResolveDataDirectory();
        DatabasePath = Path.Combine(DataDirectory, DatabaseFileName);
        RestrictToOwner(DataDirectory, DatabasePath);
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = DatabasePath,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = true,
            DefaultTimeout = 30,
        }.ToString();
        _writer = new SqliteConnection(_connectionString);
        _writer.Open();
        Execute(_writer, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=10000;");
        // The WAL is cut back after each checkpoint; pages freed by retention are reused (no auto_vacuum), so the
        // file plateaus under the 24 h TTL rather than shrinking and growing again on the SD card.
        Execute(_writer, $"PRAGMA journal_size_limit={options.Value.WalLimitKilobytes * 1024L}; PRAGMA wal_autocheckpoint={options.Value.WalCheckpointPages};");
        Migrate();
        if (deviceKey is not null) RecordDeviceKey(deviceKey);
        _reservePath = Path.Combine(DataDirectory, "reserve.space");
        _reserveBytes = options.Value.DiskReserveKilobytes * 1024L;
        if (!File.Exists(_reservePath) && !TryCreateReserve())
        {
            _diskFull = true;
            _log.LogError("Data disk {Directory} is full: new photos are refused until space returns", DataDirectory);
        }
    }

    /// <summary>
    /// Evidence is for the agent's user alone, however the agent was started (umask, a shell rather than the unit):
    /// the directory 0700, the database 0600 before SQLite first opens it (its WAL and shared-memory files take the
    /// database's mode).
    /// </summary>
    private void RestrictToOwner(string directory, string database)
    {
        const UnixFileMode ownerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(directory);
            return;
        }
        Directory.CreateDirectory(directory, ownerOnly | UnixFileMode.UserExecute);
        if (!File.Exists(database))
            new FileStream(database, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = ownerOnly }).Dispose();
        try
        {
            File.SetUnixFileMode(directory, ownerOnly | UnixFileMode.UserExecute);
            foreach (var file in new[] { database, database + "-wal", database + "-shm" })
                if (File.Exists(file)) File.SetUnixFileMode(file, ownerOnly);
        }
        catch (UnauthorizedAccessException)
        {
            _log.LogWarning("Cannot make {Directory} private to the agent's user: it belongs to another user", directory);
        }
    }

    public string DataDirectory { get; }

    public string DatabasePath { get; }

    /// <summary>Raised after any write that changes what a session's API answers look like.</summary>
    public event Action<string>? SessionChanged;

    /// <summary>Raised after a capture row is committed (the uploader wakes on it).</summary>
    public event Action<EvidenceRecord>? EvidenceStored;

    public bool IsHealthy()
    {
        try
        {
            using var c = OpenReader();
            using var cmd = c.CreateCommand();
            cmd.CommandText = "SELECT 1";
            return cmd.ExecuteScalar() is long;
        }
        catch (SqliteException ex)
        {
            _log.LogError("Evidence store check failed: {Error}", ex.Message);
            return false;
        }
    }

    private bool _disposed;

    /// <summary>Safe to call twice (the host and a stopping service may both close the store).</summary>
    public void Dispose()
    {
        lock (_writeLock)
        {
            if (_disposed) return;
            _disposed = true;
            // Fold the WAL back into the main file so a copied evidence.db is complete on its own.
            try { Execute(_writer, "PRAGMA wal_checkpoint(TRUNCATE);"); }
            catch (SqliteException ex) { _log.LogWarning("WAL checkpoint at shutdown failed: {Error}", ex.Message); }
            _writer.Dispose();
        }
        SqliteConnection.ClearAllPools();
    }

    private SqliteConnection OpenReader()
    {
        var c = new SqliteConnection(_connectionString);
        c.Open();
        return c;
    }

    private static void Execute(SqliteConnection c, string sql)
    {
        using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    private static object Ms(DateTimeOffset? value) => value is { } v ? v.ToUnixTimeMilliseconds() : DBNull.Value;

    private static DateTimeOffset? Time(SqliteDataReader r, int i) =>
        r.IsDBNull(i) ? null : DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(i));

    private static string? Text(SqliteDataReader r, int i) => r.IsDBNull(i) ? null : r.GetString(i);

    private static int? Int(SqliteDataReader r, int i) => r.IsDBNull(i) ? null : r.GetInt32(i);
}

/// <summary>A door event's id as the store remembers it, to recognise the same event sent again.</summary>
public readonly record struct DoorEventId(string ContainerId, string EventId, DateTimeOffset ReceivedAt);
