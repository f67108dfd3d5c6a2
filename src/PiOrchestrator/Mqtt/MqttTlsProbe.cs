using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using PiOrchestrator.Net;
using PiOrchestrator.Tls;

namespace PiOrchestrator.Mqtt;

/// <summary>
/// One managed TLS connection to the broker, made only after libmosquitto failed one, to name the cause: OpenSSL
/// says "certificate verify failed" without the why, and a broker refusing our client certificate under TLS 1.3
/// just closes the connection. This checks the server certificate in words (expired, wrong CA, wrong host), then
/// sends an MQTT CONNECT: a broker that accepted our certificate answers with a CONNACK, whatever its verdict.
/// </summary>
public static class MqttTlsProbe
{
    // MQTT 3.1.1 CONNECT: clean session, keep-alive 60 s, empty client id.
    private static readonly byte[] Connect = [0x10, 0x0C, 0x00, 0x04, (byte)'M', (byte)'Q', (byte)'T', (byte)'T', 0x04, 0x02, 0x00, 0x3C, 0x00, 0x00];
    private const byte ConnAck = 0x20;

    /// <summary>What is wrong with the TLS connection, or null when it works or the probe could not tell.</summary>
    public static async Task<string?> DiagnoseAsync(MqttOptions options, TimeProvider time, CancellationToken ct)
    {
        var tls = options.Tls;
        SiteCertificateAuthority? authority = null;
        if (!string.IsNullOrEmpty(tls.CaFile) && !SiteCertificateAuthority.TryLoad(tls.CaFile, out authority, out var caError))
            return $"Mqtt:Tls:CaFile: {caError}";
        X509Certificate2? clientCertificate = null;
        if (!string.IsNullOrEmpty(tls.CertFile) && !string.IsNullOrEmpty(tls.KeyFile))
        {
            try
            {
                clientCertificate = X509Certificate2.CreateFromPemFile(tls.CertFile, tls.KeyFile);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException or ArgumentException)
            {
                return $"Mqtt:Tls:CertFile/KeyFile cannot be used: {ex.Message}";
            }
        }

        string? serverProblem = null;
        var handshakeDone = false;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(5));
        try
        {
            // The certificate checks run in the handshake's reads: on the thread pool, not a socket thread.
            var tcp = await SocketThreading.ConnectAsync(new DnsEndPoint(options.Host, options.BrokerPort), timeout.Token);
            await using var stream = new SslStream(tcp, leaveInnerStreamOpen: false, (_, certificate, chain, errors) =>
            {
                if (tls.Insecure) errors &= ~SslPolicyErrors.RemoteCertificateNameMismatch;
                serverProblem = authority is null
                    ? SiteCertificateAuthority.CheckWithSystemTrust(certificate, chain, errors, time.GetUtcNow())
                    : authority.Check(certificate, chain, errors, time.GetUtcNow());
                return serverProblem is null;
            });
            await stream.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = options.Host,
                ClientCertificates = clientCertificate is null ? null : [clientCertificate],
            }, timeout.Token);
            handshakeDone = true;
            await stream.WriteAsync(Connect, timeout.Token);
            var answer = new byte[4];
            var read = await stream.ReadAsync(answer, timeout.Token);
            return read > 0 && answer[0] == ConnAck ? null : ClientCertificateRefused(tls);
        }
        catch (Exception ex) when (ex is AuthenticationException or IOException)
        {
            if (serverProblem is not null) return serverProblem;
            // The server's certificate was fine, yet the broker ended the connection: it wanted another client certificate.
            return ClientCertificateRefused(tls) + (handshakeDone ? "" : $": {ex.InnerException?.Message ?? ex.Message}");
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException)
        {
            return serverProblem;
        }
        finally
        {
            clientCertificate?.Dispose();
        }
    }

    private static string ClientCertificateRefused(MqttTlsOptions tls) => string.IsNullOrEmpty(tls.CertFile)
        ? "the broker requires a client certificate: set Mqtt:Tls:CertFile and Mqtt:Tls:KeyFile (it closed the connection after the TLS handshake)"
        : $"the broker refused this agent's client certificate {tls.CertFile} (it closed the connection after the TLS handshake)";
}
