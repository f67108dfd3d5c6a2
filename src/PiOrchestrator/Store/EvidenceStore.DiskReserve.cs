using Microsoft.Data.Sqlite;

namespace PiOrchestrator.Store;

/// <summary>
/// The disk reserve: space held in reserve.space and given back when SQLite reports the disk full, so a failed capture
/// and its session can still be recorded; new photos are refused until there is room for the reserve again.
/// </summary>
public sealed partial class EvidenceStore
{
    private readonly string _reservePath;
    private readonly long _reserveBytes;

    // The reserve is released: new photos are refused until space returns; metadata still gets written.
    private volatile bool _diskFull;

    /// <summary>True while the data disk is full and new photos are refused.</summary>
    public bool DiskFull => _diskFull;

    private bool TryCreateReserve()
    {
        try
        {
            if (new DriveInfo(DataDirectory).AvailableFreeSpace < 3 * _reserveBytes) return false;
            // Real zeros, not a sparse file: the blocks must be taken now to be given back later.
            using var file = new FileStream(_reservePath + ".tmp", FileMode.Create, FileAccess.Write, FileShare.None, 1, FileOptions.WriteThrough);
            var zeros = new byte[64 * 1024];
            for (long written = 0; written < _reserveBytes; written += zeros.Length)
                file.Write(zeros, 0, (int)Math.Min(zeros.Length, _reserveBytes - written));
            file.Flush(flushToDisk: true);
            file.Close();
            File.Move(_reservePath + ".tmp", _reservePath, overwrite: true);
            return true;
        }
        catch (IOException)
        {
            File.Delete(_reservePath + ".tmp");
            return false;
        }
    }

    /// <summary>
    /// Runs a write; on SQLITE_FULL releases the reserve once and, for metadata, tries again: a session can still
    /// complete and a failed capture still say why, on a disk that has no room for photos.
    /// </summary>
    private T WithDiskReserve<T>(Func<T> write, bool retryAfterRelease)
    {
        try
        {
            return write();
        }
        catch (SqliteException ex) when (ex.SqliteErrorCode == SqliteFull && ReleaseReserve())
        {
            if (!retryAfterRelease) throw;
            return write();
        }
    }

    private void WithDiskReserve(Action write) => WithDiskReserve(() => { write(); return 0; }, retryAfterRelease: true);

    private const int SqliteFull = 13;

    private bool ReleaseReserve()
    {
        if (!File.Exists(_reservePath)) return false;
        File.Delete(_reservePath);
        _diskFull = true;
        _log.LogError("Data disk {Directory} is full: released {Reserve} KB of reserve so sessions can be recorded; new photos are refused until space returns",
            DataDirectory, _reserveBytes / 1024);
        return true;
    }

    /// <summary>While the disk is full: takes the reserve back once there is room again (checked at each capture).</summary>
    private void RefuseWhileDiskFull()
    {
        if (!_diskFull) return;
        if (TryCreateReserve())
        {
            _diskFull = false;
            _log.LogInformation("Data disk {Directory} has space again: photos are stored again", DataDirectory);
            return;
        }
        throw new SqliteException("disk full: the data directory has no room for photos (reserve held back for session records)", SqliteFull);
    }
}
