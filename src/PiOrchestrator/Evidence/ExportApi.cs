using Microsoft.AspNetCore.Http.HttpResults;
using PiOrchestrator.Http;
using PiOrchestrator.Store;

namespace PiOrchestrator.Evidence;

public static class ExportApi
{
    /// <summary>Part of the evidence API (<see cref="EvidenceApi.MapEvidenceApi"/>).</summary>
    internal static void MapExport(this RouteGroupBuilder api) =>
        api.MapGet("/sessions/{sessionId}/export", ExportSession).WithName("ExportSession")
            .WithSummary("Export a session as a self-verifying zip")
            .WithDescription("A zip a claims handler checks with standard tools: the session's JPEGs as stored, one .sig each, " +
                "manifest.json, device.pem, SHA256SUMS, audit.json (who opened, ended or took test captures in the session), chain.tsr and tsa-ca.pem when the chain head was time-stamped, and VERIFY.txt " +
                "with the sha256sum, openssl dgst and openssl ts commands that check it. The zip is streamed (no Content-Length). " +
                $"At most {ExportSlots.Concurrent} exports run at once; another is refused with 503 and Retry-After.")
            .ProducesFile("application/zip", "The session's export.")
            .ProducesErrors(400, 404, 503);

    /// <summary>The session as a zip a claims handler checks with sha256sum and openssl (VERIFY.txt inside says how).</summary>
    public static Results<PushStreamHttpResult, ApiErrorResult> ExportSession(
        string sessionId, HttpContext context, EvidenceStore store, SessionExport export, ExportSlots slots, TimeProvider time)
    {
        if (Validation.CheckId(sessionId, "session_id") is { } invalid) return invalid;
        if (store.GetSession(sessionId) is not { } session) return ApiErrors.NotFound($"session {sessionId} not found");
        if (!slots.TryEnter(out var slot))
            return ApiErrors.ServiceUnavailable($"{ExportSlots.Concurrent} exports are running already; retry shortly", ExportSlots.RetryAfter);
        // Released when the response is done, however it ends.
        context.Response.RegisterForDispose(slot);
        var now = time.GetUtcNow();
        return TypedResults.Stream(body => export.WriteAsync(session, now, body, context.RequestAborted), "application/zip",
            $"{session.ContainerId}_{sessionId}.zip");
    }
}

/// <summary>
/// A fixed number of exports at a time: each streams megabytes from the SD card or S3, and any LAN peer may ask
/// for one without a key.
/// </summary>
public sealed class ExportSlots
{
    public const int Concurrent = 4;
    public static readonly TimeSpan RetryAfter = TimeSpan.FromSeconds(5);

    private readonly SemaphoreSlim _slots = new(Concurrent, Concurrent);

    public bool TryEnter([System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out IDisposable? slot)
    {
        slot = _slots.Wait(0) ? new Slot(_slots) : null;
        return slot is not null;
    }

    private sealed class Slot(SemaphoreSlim slots) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0) slots.Release();
        }
    }
}
