using System.Net.Security;
using Amazon.Runtime;
using PiOrchestrator.Net;
using PiOrchestrator.Tls;

namespace PiOrchestrator.Upload;

/// <summary>
/// HttpClients for the S3 endpoint alone: connections that resume the uploader on the thread pool
/// (<see cref="SocketThreading"/>), and over https, trust in the site CA (S3:CaFile) instead of the system store, so
/// a private MinIO needs no process-wide certificate bypass; without a site CA, the system store as usual. The last
/// rejection is kept to name the cause, and how far the server's clock is from this agent's.
/// </summary>
public sealed class S3HttpClientFactory(SiteCertificateAuthority? authority, TimeProvider time) : HttpClientFactory
{
    private volatile string? _lastProblem;
    private long _serverClockOffsetTicks;
    private volatile bool _serverClockKnown;

    /// <summary>Why the server's certificate was last rejected; cleared when one is accepted.</summary>
    public string? LastProblem => _lastProblem;

    /// <summary>
    /// The server's clock (its last answer's Date) minus this agent's wall clock, or null before any answer: S3
    /// refuses a request signed too far off its own time, which a Pi booted without NTP is.
    /// </summary>
    public TimeSpan? ServerClockOffset => _serverClockKnown ? TimeSpan.FromTicks(Interlocked.Read(ref _serverClockOffsetTicks)) : null;

    public override HttpClient CreateHttpClient(IClientConfig clientConfig)
    {
        // S3 answers are never followed elsewhere (OutgoingHttp): a redirect from a hostile endpoint would send the signed request on.
        var handler = OutgoingHttp.Handler();
        handler.PooledConnectionIdleTimeout = TimeSpan.FromMinutes(1);
        handler.ConnectTimeout = TimeSpan.FromSeconds(10);
        handler.SslOptions = new SslClientAuthenticationOptions
        {
            RemoteCertificateValidationCallback = (_, certificate, chain, errors) =>
            {
                _lastProblem = authority is null
                    ? SiteCertificateAuthority.CheckWithSystemTrust(certificate, chain, errors, time.GetUtcNow())
                    : authority.Check(certificate, chain, errors, time.GetUtcNow());
                return _lastProblem is null;
            },
        };
        return new HttpClient(new ServerClockHandler(this, time) { InnerHandler = handler }) { Timeout = clientConfig.Timeout ?? TimeSpan.FromSeconds(100) };
    }

    /// <summary>Reads the Date of every answer against the wall clock at the request's midpoint.</summary>
    private sealed class ServerClockHandler(S3HttpClientFactory factory, TimeProvider time) : DelegatingHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var sent = time.GetUtcNow();
            var response = await base.SendAsync(request, cancellationToken);
            if (response.Headers.Date is { } serverTime)
            {
                var received = time.GetUtcNow();
                Interlocked.Exchange(ref factory._serverClockOffsetTicks, (serverTime - (sent + (received - sent) / 2)).Ticks);
                factory._serverClockKnown = true;
            }
            return response;
        }
    }

    public override bool UseSDKHttpClientCaching(IClientConfig clientConfig) => true;

    public override bool DisposeHttpClientsAfterUse(IClientConfig clientConfig) => false;

    // Null: cached per S3 client, disposed with it.
    public override string? GetConfigUniqueString(IClientConfig clientConfig) => null;
}
