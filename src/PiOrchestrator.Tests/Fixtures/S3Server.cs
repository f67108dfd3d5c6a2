using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;

namespace PiOrchestrator.Tests.Fixtures;

public enum S3ServerKind
{
    /// <summary>@20minutes/s3rver 5.0.0 (patched by test-tools/patch-s3rver.js): checks SigV4 signatures.</summary>
    SignatureChecking,
    /// <summary>s3rver 3.7.1: stores a chunk-encoded upload with its chunk framing, i.e. corrupted.</summary>
    Legacy,
}

/// <summary>A real S3 server (npm s3rver) on a free loopback port; credentials S3RVER/S3RVER. It can be stopped and started again.</summary>
public sealed class S3Server : IAsyncDisposable
{
    public const string AccessKey = "S3RVER";
    public const string SecretKey = "S3RVER";

    private readonly S3ServerKind _kind;
    private readonly TempDirectory _data = new();
    private readonly StringBuilder _log = new();
    private Process? _process;

    private readonly TestCertificates? _tls;
    private readonly string? _serverCert;

    private S3Server(S3ServerKind kind, TestCertificates? tls = null, string? serverCert = null) => (_kind, _tls, _serverCert) = (kind, tls, serverCert);

    public int Port { get; } = TestPorts.Free();
    public string Endpoint => _tls is null ? $"http://127.0.0.1:{Port}" : $"https://localhost:{Port}";
    public string Log { get { lock (_log) return _log.ToString(); } }

    public static async Task<S3Server> StartAsync(S3ServerKind kind = S3ServerKind.SignatureChecking)
    {
        var server = new S3Server(kind);
        await server.LaunchAsync();
        return server;
    }

    /// <summary>s3rver over HTTPS (its --key/--cert), presenting <paramref name="serverCert"/> of the test certificates.</summary>
    public static async Task<S3Server> StartHttpsAsync(TestCertificates certificates, string serverCert)
    {
        var server = new S3Server(S3ServerKind.SignatureChecking, certificates, serverCert);
        await server.LaunchAsync();
        return server;
    }

    public async Task LaunchAsync()
    {
        var tools = RepoPaths.TestTools;
        var script = _kind == S3ServerKind.SignatureChecking
            ? Path.Combine(tools, "s3rver5.js")
            : Path.Combine(tools, "node_modules", "s3rver", "bin", "s3rver.js");
        if (!File.Exists(script) || !Directory.Exists(Path.Combine(tools, "node_modules")))
            throw new InvalidOperationException($"s3rver is not installed in {tools}: run scripts/test.sh, which installs it");
        List<string> args = [script, "-d", _data.Path, "-a", "127.0.0.1", "-p", Port.ToString(), "--silent"];
        if (_tls is not null) args.AddRange(["--key", _tls.ServerKey, "--cert", _serverCert!]);
        var start = new ProcessStartInfo("node", args)
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        _process = Process.Start(start)!;
        _process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (_log) _log.AppendLine(e.Data); };
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_log) _log.AppendLine(e.Data); };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        await Eventually.UntilAsync(async () =>
        {
            if (_process.HasExited) throw new InvalidOperationException($"s3rver exited: {Log}");
            using var tcp = new TcpClient();
            try { await tcp.ConnectAsync("127.0.0.1", Port); return true; }
            catch (SocketException) { return false; }
        }, TimeSpan.FromSeconds(20), "s3rver to listen");
    }

    public async Task StopAsync()
    {
        if (_process is null || _process.HasExited) return;
        _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
    }

    /// <summary>A client of our own, for reading back what the agent stored (the server verifies no checksum itself).</summary>
    public AmazonS3Client Client() => new(new BasicAWSCredentials(AccessKey, SecretKey), new AmazonS3Config
    {
        ServiceURL = Endpoint,
        ForcePathStyle = true,
        AuthenticationRegion = "us-east-1",
        RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
        ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
        HttpClientFactory = _tls is null ? null : new PiOrchestrator.Upload.S3HttpClientFactory(new PiOrchestrator.Tls.SiteCertificateAuthority(_tls.CaFile), TimeProvider.System),
    });

    /// <summary>Every object in the bucket; none while the agent has not made the bucket yet.</summary>
    public async Task<List<S3Object>> ListAsync(string bucket)
    {
        using var client = Client();
        var objects = new List<S3Object>();
        string? token = null;
        do
        {
            ListObjectsV2Response page;
            try
            {
                page = await client.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket, ContinuationToken = token });
            }
            catch (NoSuchBucketException)
            {
                return objects;
            }
            objects.AddRange(page.S3Objects ?? []);
            token = page.IsTruncated == true ? page.NextContinuationToken : null;
        } while (token is not null);
        return objects;
    }

    public async Task<byte[]> ReadAsync(string bucket, string key)
    {
        using var client = Client();
        using var response = await client.GetObjectAsync(bucket, key);
        using var buffer = new MemoryStream();
        await response.ResponseStream.CopyToAsync(buffer);
        return buffer.ToArray();
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _process?.Dispose();
        _data.Dispose();
    }
}
