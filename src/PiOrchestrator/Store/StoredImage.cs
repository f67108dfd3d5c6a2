using Microsoft.Data.Sqlite;

namespace PiOrchestrator.Store;

/// <summary>A stored JPEG open for reading (<see cref="EvidenceStore.OpenImage"/>); disposing it ends the read.</summary>
public sealed class StoredImage(SqliteConnection connection, SqliteTransaction snapshot, SqliteBlob blob) : IDisposable
{
    public Stream Bytes => blob;

    public long Length => blob.Length;

    public void Dispose()
    {
        blob.Dispose();
        snapshot.Dispose();
        connection.Dispose();
    }
}
