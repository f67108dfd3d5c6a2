using System.Collections.Concurrent;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace PiOrchestrator.Tests.Fixtures;

public enum CameraMode
{
    Healthy,
    /// <summary>One frame buffer: each grab returns the frame taken at the previous grab.</summary>
    StaleFirst,
    Http500,
    /// <summary>Accepts the request and never answers.</summary>
    Hang,
    /// <summary>Frame cut short (no EOI), Content-Length matches what is sent: a frame bigger than the buffer.</summary>
    TruncatedNoEoi,
    /// <summary>Announces the whole frame, sends part of it, then drops the connection.</summary>
    ShortBody,
    /// <summary>Cut inside the scan data with FF D9 appended: markers pass, the decode must not.</summary>
    CutWithFakeEoi,
    NoSoi,
    Garbage,
    /// <summary>Answers after a delay.</summary>
    Slow,
    /// <summary>Serves <see cref="FakeCamera.CustomFrame"/> as it is.</summary>
    Custom,
    /// <summary>Answers 302 with <see cref="FakeCamera.RedirectTo"/> as Location.</summary>
    Redirect,
}

/// <summary>An ESP32-CAM CameraWebServer over real HTTP (Kestrel on loopback) that can misbehave on purpose.</summary>
public sealed class FakeCamera : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<byte[]> _served = new();
    private readonly ConcurrentQueue<DateTimeOffset> _requests = new();
    private byte[] _previous;
    private int _seed;

    private FakeCamera(WebApplication app, int firstSeed)
    {
        _app = app;
        _seed = firstSeed;
        _previous = TestJpegs.Make(firstSeed);
    }

    public CameraMode Mode { get; set; } = CameraMode.Healthy;
    public byte[] CustomFrame { get; set; } = [];
    public string RedirectTo { get; set; } = "";
    /// <summary>A <c>/status</c> body that never ends (it stops when the client goes away).</summary>
    public bool EndlessStatus { get; set; }
    public TimeSpan SlowDelay { get; set; } = TimeSpan.FromMilliseconds(300);
    public int Port { get; private set; }
    public string Url => $"http://127.0.0.1:{Port}";
    public int CaptureRequests => _requests.Count;

    /// <summary>The most /capture requests this camera was ever serving at once.</summary>
    public int MaxConcurrent => Volatile.Read(ref _maxConcurrent);
    private int _concurrent;
    private int _maxConcurrent;
    public IReadOnlyCollection<DateTimeOffset> RequestTimes => _requests;

    /// <summary>sha256 (hex) of every complete frame served, in order.</summary>
    public IReadOnlyList<string> ServedSha256 => _served.Select(f => Convert.ToHexStringLower(SHA256.HashData(f))).ToList();

    public static async Task<FakeCamera> StartAsync(int seed = 1, int port = 0)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        var app = builder.Build();
        var camera = new FakeCamera(app, seed * 1000);
        app.MapGet("/capture", camera.CaptureAsync);
        app.MapGet("/status", camera.StatusAsync);
        await app.StartAsync();
        camera.Port = new Uri(app.Urls.First()).Port;
        return camera;
    }

    private async Task StatusAsync(HttpContext context)
    {
        if (!EndlessStatus)
        {
            await context.Response.WriteAsJsonAsync(new { framesize = 13, quality = 10 });
            return;
        }
        context.Response.ContentType = "application/json";
        var filler = new byte[64 * 1024];
        Array.Fill(filler, (byte)' ');
        try
        {
            await context.Response.Body.WriteAsync("{\"framesize\":13,\"pad\":\""u8.ToArray(), context.RequestAborted);
            while (!context.RequestAborted.IsCancellationRequested)
                await context.Response.Body.WriteAsync(filler, context.RequestAborted);
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException) { }
    }

    private async Task CaptureAsync(HttpContext context)
    {
        var now = Interlocked.Increment(ref _concurrent);
        int seen;
        while (now > (seen = Volatile.Read(ref _maxConcurrent)) && Interlocked.CompareExchange(ref _maxConcurrent, now, seen) != seen) { }
        try
        {
            await ServeAsync(context);
        }
        finally
        {
            Interlocked.Decrement(ref _concurrent);
        }
    }

    private async Task ServeAsync(HttpContext context)
    {
        _requests.Enqueue(DateTimeOffset.UtcNow);
        var fresh = TestJpegs.Make(Interlocked.Increment(ref _seed));
        var response = context.Response;
        switch (Mode)
        {
            case CameraMode.Http500:
                response.StatusCode = 500;
                await response.WriteAsync("camera capture failed");
                return;
            case CameraMode.Hang:
                try { await Task.Delay(Timeout.Infinite, context.RequestAborted); }
                catch (OperationCanceledException) { }
                return;
            case CameraMode.NoSoi:
                await Send(context, fresh[2..]);
                return;
            case CameraMode.Garbage:
                await Send(context, RandomNumberGenerator.GetBytes(4096));
                return;
            case CameraMode.TruncatedNoEoi:
                await Send(context, fresh[..(fresh.Length * 6 / 10)]);
                return;
            case CameraMode.CutWithFakeEoi:
                await Send(context, [.. fresh[..(fresh.Length * 6 / 10)], 0xFF, 0xD9]);
                return;
            case CameraMode.ShortBody:
                response.ContentType = "image/jpeg";
                response.ContentLength = fresh.Length;
                await response.Body.WriteAsync(fresh.AsMemory(0, fresh.Length / 2));
                await response.Body.FlushAsync();
                context.Features.Get<IHttpResponseBodyFeature>()?.Stream.Flush();
                context.Abort();
                return;
            case CameraMode.StaleFirst:
                var stale = _previous;
                _previous = fresh;
                _served.Enqueue(stale);
                await Send(context, stale);
                return;
            case CameraMode.Custom:
                await Send(context, CustomFrame);
                return;
            case CameraMode.Redirect:
                response.StatusCode = 302;
                response.Headers.Location = RedirectTo;
                return;
            case CameraMode.Slow:
                await Task.Delay(SlowDelay, context.RequestAborted);
                goto default;
            default:
                _previous = fresh;
                _served.Enqueue(fresh);
                await Send(context, fresh);
                return;
        }
    }

    private static Task Send(HttpContext context, byte[] body)
    {
        context.Response.ContentType = "image/jpeg";
        context.Response.ContentLength = body.Length;
        return context.Response.Body.WriteAsync(body).AsTask();
    }

    public async ValueTask DisposeAsync()
    {
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await _app.StopAsync(stop.Token);
        await _app.DisposeAsync();
    }
}
