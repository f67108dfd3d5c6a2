using System.Net;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using MQTTnet.Channel;
using PiOrchestrator.Net;
using PiOrchestrator.Tls;

namespace PiOrchestrator.Mqtt;

/// <summary>
/// The broker connection's byte stream, handed to MQTTnet: a TCP connection (no Nagle delay) whose reads resume on
/// the thread pool (<see cref="ThreadPoolResumingStream"/>: with inline socket completions, MQTTnet's packet parsing
/// and the message handlers would otherwise run on .NET's socket threads), with TLS layered on it here rather than
/// in MQTTnet, so every failed handshake is named by what went wrong.
/// </summary>
public sealed class MqttTransport(MqttOptions options, TimeProvider time) : IMqttClientStreamProvider
{
    private readonly MqttTlsOptions _tls = options.Tls;

    /// <summary>How a TCP connection is made; the agent's <see cref="SocketThreading.ConnectAsync(DnsEndPoint, CancellationToken)"/> unless a test says otherwise.</summary>
    public Func<DnsEndPoint, CancellationToken, ValueTask<Stream>> ConnectTcp { get; init; } = SocketThreading.ConnectAsync;

    /// <summary>Whether the last attempt's TLS handshake got as far as accepting the broker's certificate.</summary>
    public bool ServerCertificateAccepted { get; private set; }

    public async Task<Stream> ConnectAsync(EndPoint brokerEndPoint, CancellationToken cancellationToken)
    {
        ServerCertificateAccepted = false;
        var endPoint = brokerEndPoint as DnsEndPoint ?? new DnsEndPoint(options.Host, options.BrokerPort);
        var tcp = await ConnectTcp(endPoint, cancellationToken);
        if (!_tls.Enabled) return tcp;
        try
        {
            return await HandshakeAsync(tcp, endPoint.Host, cancellationToken);
        }
        catch
        {
            await tcp.DisposeAsync();
            throw;
        }
    }

    private async Task<Stream> HandshakeAsync(Stream tcp, string host, CancellationToken ct)
    {
        // Read at every connect, so replaced certificates are picked up without a restart.
        SiteCertificateAuthority? authority = null;
        if (!string.IsNullOrEmpty(_tls.CaFile) && !SiteCertificateAuthority.TryLoad(_tls.CaFile, out authority, out var caError))
            throw new MqttTlsException($"Mqtt:Tls:CaFile: {caError}");
        using var clientCertificate = LoadClientCertificate();

        string? serverProblem = null;
        var ssl = new SslStream(tcp, leaveInnerStreamOpen: false, (_, certificate, chain, errors) =>
        {
            // Insecure skips the hostname check only, never the chain.
            if (_tls.Insecure) errors &= ~SslPolicyErrors.RemoteCertificateNameMismatch;
            // The site CA is trusted for this connection alone (custom root trust), nothing process-wide.
            serverProblem = authority is null
                ? SiteCertificateAuthority.CheckWithSystemTrust(certificate, chain, errors, time.GetUtcNow())
                : authority.Check(certificate, chain, errors, time.GetUtcNow());
            ServerCertificateAccepted = serverProblem is null;
            return ServerCertificateAccepted;
        });
        try
        {
            await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = host,
                ClientCertificates = clientCertificate is null ? null : [clientCertificate],
                EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            }, ct);
            return ssl;
        }
        catch (Exception ex) when (ex is AuthenticationException or IOException)
        {
            await ssl.DisposeAsync();
            if (serverProblem is not null) throw new MqttTlsException(serverProblem, ex);
            // The broker's certificate was fine, yet the handshake failed: it did not take ours (TLS 1.2 says so here).
            if (ServerCertificateAccepted) throw new MqttTlsException(ClientCertificateRefused() + $": {Innermost(ex)}", ex);
            throw new MqttTlsException($"the broker port {options.BrokerPort} does not speak TLS ({Innermost(ex)})", ex);
        }
    }

    /// <summary>
    /// The cause when a connection whose handshake succeeded ended before the broker's CONNACK: under TLS 1.3 a
    /// broker refuses a client certificate only after the handshake, by closing the connection.
    /// </summary>
    public string? ExplainClosedBeforeConnack() =>
        _tls.Enabled && ServerCertificateAccepted ? ClientCertificateRefused() + " (it closed the connection after the TLS handshake)" : null;

    private string ClientCertificateRefused() => string.IsNullOrEmpty(_tls.CertFile)
        ? "the broker requires a client certificate: set Mqtt:Tls:CertFile and Mqtt:Tls:KeyFile"
        : $"the broker refused this agent's client certificate {_tls.CertFile}";

    private X509Certificate2? LoadClientCertificate()
    {
        if (string.IsNullOrEmpty(_tls.CertFile) || string.IsNullOrEmpty(_tls.KeyFile)) return null;
        try
        {
            return X509Certificate2.CreateFromPemFile(_tls.CertFile, _tls.KeyFile);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException or ArgumentException)
        {
            throw new MqttTlsException($"Mqtt:Tls:CertFile/KeyFile cannot be used: {ex.Message}", ex);
        }
    }

    private static string Innermost(Exception ex)
    {
        while (ex.InnerException is not null) ex = ex.InnerException;
        return ex.Message;
    }
}

/// <summary>A TLS connection to the broker refused, with the cause in words.</summary>
public sealed class MqttTlsException(string message, Exception? inner = null) : Exception(message, inner);
