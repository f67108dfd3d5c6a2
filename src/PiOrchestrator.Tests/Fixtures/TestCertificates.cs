using System.Diagnostics;

namespace PiOrchestrator.Tests.Fixtures;

/// <summary>
/// A site CA and the certificates the TLS tests need, made by the real openssl command: a server certificate for
/// localhost/127.0.0.1, an expired one, one for another host, a client certificate, and a second CA with a
/// server and client certificate of its own (what an agent configured with the wrong CA meets).
/// </summary>
public sealed class TestCertificates : IDisposable
{
    private readonly TempDirectory _dir = new();

    public string Directory => _dir.Path;
    public string CaFile => File("ca.crt");
    public string OtherCaFile => File("other-ca.crt");
    public string ServerCert => File("server.crt");
    public string ServerKey => File("server.key");
    public string ExpiredServerCert => File("expired.crt");
    public string WrongHostServerCert => File("wronghost.crt");
    public string OtherCaServerCert => File("other-server.crt");
    public string ClientCert => File("client.crt");
    public string ClientKey => File("client.key");
    public string OtherCaClientCert => File("other-client.crt");
    public string OtherCaClientKey => File("other-client.key");

    public string File(string name) => Path.Combine(_dir.Path, name);

    public static async Task<TestCertificates> CreateAsync()
    {
        var certificates = new TestCertificates();
        // `openssl ca` rather than `x509 -req`: only it can backdate a certificate (the expired one) in OpenSSL 3.0.
        const string script = """
            set -euo pipefail
            cat > ca.cnf <<'CNF'
            [ ca ]
            default_ca = site
            [ site ]
            database = index.txt
            new_certs_dir = issued
            serial = serial
            default_md = sha256
            default_days = 30
            policy = any
            copy_extensions = copy
            unique_subject = no
            [ any ]
            commonName = supplied
            [ server ]
            basicConstraints = CA:FALSE
            keyUsage = digitalSignature, keyEncipherment
            extendedKeyUsage = serverAuth
            [ client ]
            basicConstraints = CA:FALSE
            keyUsage = digitalSignature, keyEncipherment
            extendedKeyUsage = clientAuth
            CNF
            mkdir -p issued
            : > index.txt
            echo 1000 > serial
            q() { "$@" 2>/dev/null; }
            ca() { q openssl req -x509 -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.crt" -days 30 -subj "/CN=$2" \
                    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign; }
            csr() { q openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "/CN=$2" ${3:+-addext "$3"}; }
            sign() { q openssl ca -batch -config ca.cnf -cert "$2.crt" -keyfile "$2.key" -extensions "$3" -in "$1.csr" -out "$1.crt" -notext "${@:4}"; }
            ca ca "Test Site CA"
            ca other-ca "Some Other CA"
            csr server localhost subjectAltName=DNS:localhost,IP:127.0.0.1
            sign server ca server
            cp server.csr expired.csr
            sign expired ca server -startdate 20200101000000Z -enddate 20210101000000Z
            # The same key throughout, so one keyfile serves every server certificate.
            q openssl req -new -key server.key -out wronghost.csr -subj "/CN=broker.other.example" -addext subjectAltName=DNS:broker.other.example
            sign wronghost ca server
            cp server.csr other-server.csr
            sign other-server other-ca server
            csr client piorchestrator-test
            sign client ca client
            csr other-client piorchestrator-other
            sign other-client other-ca client
            chmod 0644 *.key
            """;
        var start = new ProcessStartInfo("bash", ["-c", script])
        {
            WorkingDirectory = certificates.Directory, RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false,
        };
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0) throw new InvalidOperationException($"openssl failed: {await stderr}");
        return certificates;
    }

    public void Dispose() => _dir.Dispose();
}
