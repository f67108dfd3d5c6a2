using System.Net;

namespace PiOrchestrator.Tests.Fixtures;

/// <summary>How <see cref="TestTsa"/> answers: a real reply, or a hostile one.</summary>
public enum TsaReplyMode
{
    Valid,
    /// <summary>Chunked zeros until <see cref="TestTsa.HostileBytes"/> are sent or the client hangs up: a body with no end.</summary>
    Zeros,
    /// <summary>A real reply followed by <see cref="TestTsa.HostileBytes"/> of junk in the same body.</summary>
    ValidThenJunk,
}

/// <summary>
/// A real RFC 3161 time-stamping authority: `openssl ts -reply` behind a small HTTP listener, with a CA and a TSA
/// certificate (extendedKeyUsage critical timeStamping) made by openssl. <see cref="Available"/> false drops every
/// connection, as a TSA that is down; <see cref="Mode"/> makes it hostile.
/// </summary>
public sealed class TestTsa : IAsyncDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly HttpListener _listener = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _serial = new(1);
    private Task _loop = Task.CompletedTask;
    private int _requests;

    public int Port { get; } = TestPorts.Free();
    public string Url => $"http://127.0.0.1:{Port}/tsa";
    /// <summary>The CA that issued this TSA's certificate.</summary>
    public string CaFile => Path.Combine(_dir.Path, "ca.crt");
    /// <summary>A CA that vouches for nothing here: a TSA checked against it must be refused.</summary>
    public string OtherCaFile => Path.Combine(_dir.Path, "other-ca.crt");
    public bool Available { get; set; } = true;
    public TsaReplyMode Mode { get; set; } = TsaReplyMode.Valid;
    /// <summary>The size of a hostile body (<see cref="TsaReplyMode.Zeros"/>) or of the junk after a reply.</summary>
    public long HostileBytes { get; set; } = 1L << 30;
    /// <summary>Requests answered, in any mode.</summary>
    public int Answered => Volatile.Read(ref _requests);
    /// <summary>Bytes of hostile bodies the client actually took (written before it hung up).</summary>
    public long HostileBytesSent => Interlocked.Read(ref _hostileSent);
    private long _hostileSent;

    public static async Task<TestTsa> StartAsync()
    {
        var tsa = new TestTsa();
        await tsa.MakeCertificatesAsync();
        tsa._listener.Prefixes.Add($"http://127.0.0.1:{tsa.Port}/");
        tsa._listener.Start();
        tsa._loop = tsa.ServeAsync();
        return tsa;
    }

    private async Task MakeCertificatesAsync()
    {
        await File.WriteAllTextAsync(Path.Combine(_dir.Path, "ts.cnf"), """
            [ tsa ]
            default_tsa = tsa_config
            [ tsa_config ]
            dir = .
            serial = ./serial
            crypto_device = builtin
            signer_cert = ./tsa.crt
            certs = ./tsa.crt
            signer_key = ./tsa.key
            signer_digest = sha256
            default_policy = 1.2.3.4.1
            other_policies = 1.2.3.4.2
            digests = sha256
            accuracy = secs:1
            ordering = no
            tsa_name = no
            ess_cert_id_chain = no
            ess_cert_id_alg = sha256
            [ tsa_ext ]
            basicConstraints = critical,CA:false
            keyUsage = critical,digitalSignature
            extendedKeyUsage = critical,timeStamping
            """);
        await File.WriteAllTextAsync(Path.Combine(_dir.Path, "serial"), "01\n");
        string[][] steps =
        [
            ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=Test TSA CA"],
            ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "other-ca.key", "-out", "other-ca.crt", "-days", "2", "-subj", "/CN=Other CA"],
            ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "tsa.key", "-out", "tsa.csr", "-subj", "/CN=Test TSA"],
            ["x509", "-req", "-in", "tsa.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "tsa.crt", "-days", "2", "-extfile", "ts.cnf", "-extensions", "tsa_ext"],
        ];
        foreach (var step in steps)
        {
            var (exit, output) = await Shell.RunAsync(_dir.Path, "openssl", step);
            if (exit != 0) throw new InvalidOperationException($"openssl {string.Join(' ', step)}: {output}");
        }
    }

    private async Task ServeAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            HttpListenerContext context;
            try { context = await _listener.GetContextAsync(); }
            catch (Exception) when (_stop.IsCancellationRequested) { return; }
            catch (HttpListenerException) { return; }
            _ = AnswerAsync(context);
        }
    }

    private async Task AnswerAsync(HttpListenerContext context)
    {
        if (!Available)
        {
            context.Response.Abort();
            return;
        }
        await _serial.WaitAsync();
        try
        {
            var n = Interlocked.Increment(ref _requests);
            using (var query = File.Create(Path.Combine(_dir.Path, $"q{n}.tsq"))) await context.Request.InputStream.CopyToAsync(query);
            var (exit, output) = await Shell.RunAsync(_dir.Path, "openssl", "ts", "-reply", "-config", "ts.cnf", "-queryfile", $"q{n}.tsq", "-out", $"r{n}.tsr");
            if (exit != 0)
            {
                context.Response.StatusCode = 500;
                await context.Response.OutputStream.WriteAsync(System.Text.Encoding.UTF8.GetBytes(output));
            }
            else
            {
                context.Response.ContentType = "application/timestamp-reply";
                var mode = Mode;
                if (mode != TsaReplyMode.Valid) context.Response.SendChunked = true;
                if (mode != TsaReplyMode.Zeros) await context.Response.OutputStream.WriteAsync(await File.ReadAllBytesAsync(Path.Combine(_dir.Path, $"r{n}.tsr")));
                if (mode != TsaReplyMode.Valid && !await WriteHostileAsync(context.Response.OutputStream, mode == TsaReplyMode.Zeros ? (byte)0 : (byte)'J'))
                {
                    context.Response.Abort();
                    return;
                }
            }
            context.Response.Close();
        }
        catch (HttpListenerException)
        {
            context.Response.Abort();
        }
        finally
        {
            _serial.Release();
        }
    }

    /// <summary>False when the client hung up first.</summary>
    private async Task<bool> WriteHostileAsync(Stream output, byte fill)
    {
        var chunk = new byte[64 * 1024];
        Array.Fill(chunk, fill);
        for (var left = HostileBytes; left > 0; left -= chunk.Length)
        {
            var size = (int)Math.Min(chunk.Length, left);
            try
            {
                await output.WriteAsync(chunk.AsMemory(0, size));
            }
            catch (Exception ex) when (ex is HttpListenerException or IOException or ObjectDisposedException)
            {
                return false;
            }
            Interlocked.Add(ref _hostileSent, size);
        }
        return true;
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        try { await _loop; } catch (ObjectDisposedException) { }
        _listener.Close();
        _dir.Dispose();
    }
}
