using Microsoft.AspNetCore.Http.HttpResults;
using PiOrchestrator.Api;

namespace PiOrchestrator.Evidence;

public static class ExportApi
{
    /// <summary>Part of the evidence API (<see cref="EvidenceApi.MapEvidenceApi"/>).</summary>
    internal static void MapExport(this RouteGroupBuilder api) =>
        api.MapGet("/sessions/{sessionId}/export", ExportSession).WithName("ExportSession")
            .WithSummary("Export a session as a self-verifying zip")
            .WithDescription("A zip a claims handler checks with standard tools: the session's JPEGs as stored, one .sig each, " +
                "manifest.json, device.pem, SHA256SUMS, chain.tsr and tsa-ca.pem when the chain head was time-stamped, and VERIFY.txt " +
                "with the sha256sum, openssl dgst and openssl ts commands that check it.")
            .ProducesFile("application/zip", "The session's export.")
            .ProducesErrors(400, 404);

    /// <summary>The session as a zip a claims handler checks with sha256sum and openssl (VERIFY.txt inside says how).</summary>
    public static async Task<Results<FileContentHttpResult, ApiErrorResult>> ExportSession(
        string sessionId, EvidenceStore store, SessionExport export, TimeProvider time, CancellationToken ct)
    {
        if (Validation.CheckId(sessionId, "session_id") is { } invalid) return invalid;
        if (store.GetSession(sessionId) is not { } session) return ApiErrors.NotFound($"session {sessionId} not found");
        var zip = await export.BuildAsync(session, time.GetUtcNow(), ct);
        return TypedResults.File(zip, "application/zip", $"{session.ContainerId}_{sessionId}.zip");
    }
}
