using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Options;
using PiOrchestrator.Hosting;
using PiOrchestrator.Store;
using PiOrchestrator.Upload;

namespace PiOrchestrator.Evidence;

/// <summary>
/// Store and forward of RFC 3161 time stamps: each completed session's chain head is sent to the TSA (SHA-256 imprint,
/// nonce, certificate requested), retried with capped backoff while the TSA is away, and the reply uploaded as
/// <c>evidence/{ctr}/{sess}/chain.tsr</c>. Captures never wait for it. A reply is read to <see cref="MaxReplyBytes"/> at
/// most and must be one DER value, the token's TimeStampResp, with nothing after it.
/// </summary>
public sealed class TimestampService(
    EvidenceStore store, S3ObjectStore s3, IOptions<TsaOptions> options, TimeProvider time, ILogger<TimestampService> log) : BackgroundService
{
    private readonly SemaphoreSlim _wake = new(0);
    private readonly TsaOptions _options = options.Value;

    /// <summary>The most of a TSA reply read: a token with the TSA's certificate chain is a few KB.</summary>
    public const int MaxReplyBytes = 64 * 1024;

    /// <summary>A TSA that is away is asked again after 1 s, doubling up to Tsa:RetryMaxSeconds; the failures are counted in the store.</summary>
    internal static Backoff Retry(TsaOptions options) => new(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(options.RetryMaxSeconds), Jitter: true);

    public static string ObjectKey(SessionRecord session) => $"evidence/{session.ContainerId}/{session.SessionId}/chain.tsr";

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!_options.Configured) return;
        if (!TimestampCheck.TryLoadCa(_options.CaFile, out var ca, out var error)) throw new InvalidOperationException(error);
        using var http = new HttpClient(Net.OutgoingHttp.Handler()) { Timeout = TimeSpan.FromSeconds(_options.TimeoutSeconds) };
        log.LogInformation("Time-stamping session chain heads at {Url}", _options.Url);
        AnchorOlderStamps(ca!);
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
        byte[]? reply;
        try
        {
            // The deadline covers the body too: HttpClient.Timeout stops at the headers once the body is streamed.
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
            deadline.CancelAfter(TimeSpan.FromSeconds(_options.TimeoutSeconds));
            using var message = new HttpRequestMessage(HttpMethod.Post, _options.Url) { Content = new ByteArrayContent(request.Encode()) };
            message.Content.Headers.ContentType = new MediaTypeHeaderValue("application/timestamp-query");
            using var response = await http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, deadline.Token);
            if (!response.IsSuccessStatusCode) throw new HttpRequestException($"HTTP {(int)response.StatusCode}");
            reply = await ReadCappedAsync(response.Content, deadline.Token);
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException || ex is OperationCanceledException && !ct.IsCancellationRequested)
        {
            Postpone(due, $"TSA not reachable: {(ex is OperationCanceledException ? $"no complete reply within {_options.TimeoutSeconds} s" : ex.Message)}");
            return;
        }
        if (reply is null)
        {
            Postpone(due, $"TSA reply refused: longer than {MaxReplyBytes / 1024} KiB");
            return;
        }
        Rfc3161TimestampToken token;
        try
        {
            token = request.ProcessResponse(reply, out var consumed);
            // Bytes after the reply would be stored, uploaded and exported as if they were part of it.
            if (consumed != reply.Length) throw new CryptographicException($"{reply.Length - consumed} bytes follow the time-stamp reply");
        }
        catch (CryptographicException ex)
        {
            Postpone(due, $"TSA reply refused: {ex.Message}");
            return;
        }
        var problem = TimestampCheck.Check(token, due.ChainHead, ca, null, out var signer, out var chainPem);
        var tsa = signer?.Subject ?? new Uri(_options.Url).Host;
        store.RecordTimestamp(due.SessionId, problem is null ? "ok" : "failed", reply, token.AsSignedCms().Encode(), token.TokenInfo.Timestamp, tsa, problem,
            TsaAnchor.For(ca, chainPem));
        if (problem is null) log.LogInformation("Session {SessionId} chain head time-stamped by {Tsa} at {GenTime:O}", due.SessionId, tsa, token.TokenInfo.Timestamp);
        else log.LogError("Time stamp for session {SessionId} refused: {Problem}", due.SessionId, problem);
    }

    /// <summary>The body, or null when it is longer than <see cref="MaxReplyBytes"/> (declared or as it arrives); never more is read.</summary>
    private static async Task<byte[]?> ReadCappedAsync(HttpContent content, CancellationToken ct)
    {
        if (content.Headers.ContentLength > MaxReplyBytes) return null;
        await using var body = await content.ReadAsStreamAsync(ct);
        var buffer = new byte[MaxReplyBytes + 1];
        var length = 0;
        int read;
        while (length < buffer.Length && (read = await body.ReadAsync(buffer.AsMemory(length), ct)) > 0) length += read;
        return length > MaxReplyBytes ? null : buffer[..length];
    }

    /// <summary>
    /// Stamps trusted before their CA was kept with them are anchored to the CA configured now, once: those it vouches
    /// for keep ok, the others become failed (and are stamped again).
    /// </summary>
    private void AnchorOlderStamps(X509Certificate2 ca)
    {
        foreach (var stamp in store.UnanchoredTimestamps())
        {
            string? problem = "the stored token cannot be decoded";
            var chainPem = "";
            if (Rfc3161TimestampToken.TryDecode(stamp.Token!, out var token, out _))
                problem = TimestampCheck.Check(token!, stamp.ChainHead, ca, null, out _, out chainPem);
            store.AnchorTimestamp(stamp.SessionId, problem is null ? "ok" : "failed", problem, TsaAnchor.For(ca, chainPem));
            if (problem is not null) log.LogWarning("Time stamp of session {SessionId}, made before its CA was kept, does not verify with Tsa:CaFile: {Problem}", stamp.SessionId, problem);
        }
    }

    private void Postpone(SessionTimestamp due, string error)
    {
        if (due.Attempts == 0) log.LogWarning("Time stamp for session {SessionId} postponed: {Error}", due.SessionId, error);
        store.PostponeTimestamp(due.SessionId, error, time.GetUtcNow() + Retry(_options).Delay(due.Attempts));
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
                    UploadMetrics.Upload("collision");
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
