using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Options;
using PiOrchestrator.Upload;

namespace PiOrchestrator.Evidence;

/// <summary>
/// Store and forward of RFC 3161 time stamps: each completed session's chain head is sent to the TSA (SHA-256 imprint,
/// nonce, certificate requested), retried with capped backoff while the TSA is away, and the reply uploaded as
/// <c>evidence/{ctr}/{sess}/chain.tsr</c>. Captures never wait for it.
/// </summary>
public sealed class TimestampService(
    EvidenceStore store, S3ObjectStore s3, IOptions<TsaOptions> options, TimeProvider time, ILogger<TimestampService> log) : BackgroundService
{
    private readonly SemaphoreSlim _wake = new(0);
    private readonly TsaOptions _options = options.Value;

    public static string ObjectKey(SessionRecord session) => $"evidence/{session.ContainerId}/{session.SessionId}/chain.tsr";

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!_options.Configured) return;
        if (!TimestampCheck.TryLoadCa(_options.CaFile, out var ca, out var error)) throw new InvalidOperationException(error);
        using var http = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false }) { Timeout = TimeSpan.FromSeconds(_options.TimeoutSeconds) };
        log.LogInformation("Time-stamping session chain heads at {Url}", _options.Url);
        void OnChange(string _) => _wake.Release();
        store.SessionChanged += OnChange;
        try
        {
            var first = true;
            while (!stoppingToken.IsCancellationRequested)
            {
                store.QueueTimestamps(retryFailed: first);
                first = false;
                foreach (var due in store.DueTimestamps(time.GetUtcNow(), 20))
                    await StampAsync(http, ca!, due, stoppingToken);
                if (s3.Configured) await UploadAsync(stoppingToken);
                var next = store.NextTimestampDue() is { } at ? at - time.GetUtcNow() : TimeSpan.FromMinutes(1);
                await _wake.WaitAsync(next < TimeSpan.Zero ? TimeSpan.Zero : next > TimeSpan.FromMinutes(1) ? TimeSpan.FromMinutes(1) : next, stoppingToken);
                while (_wake.CurrentCount > 0) _wake.Wait(0);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            store.SessionChanged -= OnChange;
        }
    }

    private async Task StampAsync(HttpClient http, X509Certificate2 ca, SessionTimestamp due, CancellationToken ct)
    {
        var request = Rfc3161TimestampRequest.CreateFromHash(Convert.FromHexString(due.ChainHead), HashAlgorithmName.SHA256,
            nonce: RandomNumberGenerator.GetBytes(16), requestSignerCertificates: true);
        byte[] reply;
        try
        {
            using var content = new ByteArrayContent(request.Encode());
            content.Headers.ContentType = new MediaTypeHeaderValue("application/timestamp-query");
            using var response = await http.PostAsync(_options.Url, content, ct);
            if (!response.IsSuccessStatusCode) throw new HttpRequestException($"HTTP {(int)response.StatusCode}");
            reply = await response.Content.ReadAsByteArrayAsync(ct);
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException || ex is TaskCanceledException && !ct.IsCancellationRequested)
        {
            Postpone(due, $"TSA not reachable: {ex.Message}");
            return;
        }
        Rfc3161TimestampToken token;
        try
        {
            token = request.ProcessResponse(reply, out _);
        }
        catch (CryptographicException ex)
        {
            Postpone(due, $"TSA reply refused: {ex.Message}");
            return;
        }
        var problem = TimestampCheck.Check(token, due.ChainHead, ca, out var signer);
        var tsa = signer?.Subject ?? new Uri(_options.Url).Host;
        store.RecordTimestamp(due.SessionId, problem is null ? "ok" : "failed", reply, token.AsSignedCms().Encode(), token.TokenInfo.Timestamp, tsa, problem);
        if (problem is null) log.LogInformation("Session {SessionId} chain head time-stamped by {Tsa} at {GenTime:O}", due.SessionId, tsa, token.TokenInfo.Timestamp);
        else log.LogError("Time stamp for session {SessionId} refused: {Problem}", due.SessionId, problem);
    }

    private void Postpone(SessionTimestamp due, string error)
    {
        var delay = Math.Min(_options.RetryMaxSeconds, Math.Pow(2, Math.Min(due.Attempts, 16))) * (0.75 + Random.Shared.NextDouble() * 0.25);
        if (due.Attempts == 0) log.LogWarning("Time stamp for session {SessionId} postponed: {Error}", due.SessionId, error);
        store.PostponeTimestamp(due.SessionId, error, time.GetUtcNow().AddSeconds(delay));
    }

    private async Task UploadAsync(CancellationToken ct)
    {
        foreach (var stamp in store.TimestampsToUpload(20))
        {
            if (store.GetSession(stamp.SessionId) is not { } session) continue;
            try
            {
                // Never over another writer's object: a taken chain.tsr sends ours beside it, named by its own sha256.
                var key = ObjectKey(session);
                var aside = $"evidence/{session.ContainerId}/{session.SessionId}/chain_{Convert.ToHexStringLower(SHA256.HashData(stamp.Reply!))[..16]}.tsr";
                if (!await s3.PutBytesAsync(key, stamp.Reply!, "application/timestamp-reply", ct))
                {
                    Metrics.AgentMetrics.Upload("collision");
                    var stored = await s3.PutBytesAsync(aside, stamp.Reply!, "application/timestamp-reply", ct);
                    log.LogError("Key collision: {Key} already holds an object this agent did not write; left as it is, session {SessionId}'s time stamp {Outcome}",
                        key, session.SessionId, stored ? "is stored at " + aside + " instead" : "is kept on this agent and in its export only (" + aside + " is taken too)");
                }
                store.MarkTimestampUploaded(stamp.SessionId);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                log.LogWarning("Uploading {Key} failed: {Error}", ObjectKey(session), s3.Describe(ex));
                return;
            }
        }
    }
}
