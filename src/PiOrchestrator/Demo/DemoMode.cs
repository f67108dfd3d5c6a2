using PiOrchestrator.Jpeg;
using PiOrchestrator.Site;

namespace PiOrchestrator.Demo;

/// <summary>
/// <c>--demo</c>: a simulated door and camera for each configured container (or one, ctr-demo), served by the agent
/// itself, so a newcomer sees sessions and before/after pairs appear within seconds.
/// </summary>
public static class DemoMode
{
    public const string Switch = "--demo";
    public const double DemoFrameIntervalSeconds = 1;

    public static (string[] AgentArgs, bool Demo) Split(string[] args) =>
        (args.Where(a => a != Switch).ToArray(), args.Contains(Switch));

    public static WebApplicationBuilder AddDemo(this WebApplicationBuilder builder)
    {
        var baseUrl = LoopbackBaseUrl(builder.Configuration["urls"] ?? "http://0.0.0.0:8082");
        builder.Services.PostConfigure<SiteOptions>(site =>
        {
            if (site.Containers.Count == 0)
                site.Containers.Add(new ContainerOptions { Id = "ctr-demo", CameraId = "espcam-demo" });
            foreach (var c in site.Containers)
            {
                c.CameraUrl = $"{baseUrl}/demo/cameras/{c.Id}/";
                if (string.IsNullOrEmpty(c.CameraId)) c.CameraId = "espcam-demo";
            }
        });
        // A timelapse too, so the demo's sessions show frames between the pair (4 s open: three frames).
        builder.Services.PostConfigure<Capture.CaptureOptions>(capture =>
        {
            if (capture.DuringOpenIntervalSeconds == 0) capture.DuringOpenIntervalSeconds = DemoFrameIntervalSeconds;
        });
        builder.Services.AddSingleton<DemoCamera>();
        builder.Services.AddHostedService<DemoDoors>();
        return builder;
    }

    public static IEndpointRouteBuilder MapDemoCamera(this IEndpointRouteBuilder app)
    {
        app.MapGet("/demo/cameras/{containerId}/capture", (string containerId, DemoCamera camera) =>
            TypedResults.Bytes(camera.Capture(containerId), "image/jpeg")).ExcludeFromDescription();
        app.MapGet("/demo/cameras/{containerId}/status", () => TypedResults.Ok(new Dictionary<string, int> { ["framesize"] = 8, ["quality"] = 12 })).ExcludeFromDescription();
        return app;
    }

    private static string LoopbackBaseUrl(string urls)
    {
        var first = urls.Split(';', StringSplitOptions.RemoveEmptyEntries)[0].Trim();
        var uri = new Uri(first.Replace("://*", "://localhost").Replace("://+", "://localhost").Replace("://[::]", "://localhost"));
        return $"{uri.Scheme}://127.0.0.1:{uri.Port}";
    }
}

/// <summary>A camera that paints a scene per frame: the door region lit while open, a frame counter as a bar.</summary>
public sealed class DemoCamera
{
    private const int Width = 640;
    private const int Height = 480;
    private int _frame;

    public byte[] Capture(string containerId)
    {
        var frame = Interlocked.Increment(ref _frame);
        var hue = containerId.Sum(ch => ch) % 200;
        var rgb = new byte[Width * Height * 3];
        for (var y = 0; y < Height; y++)
        for (var x = 0; x < Width; x++)
        {
            var i = (y * Width + x) * 3;
            var inside = x > 160 && x < 480 && y > 80 && y < 440;
            var bar = y > 450 && x < (frame * 37 % Width);
            rgb[i] = (byte)(bar ? 255 : inside ? 40 + hue : x * 255 / Width);
            rgb[i + 1] = (byte)(bar ? 200 : inside ? 90 : y * 255 / Height);
            rgb[i + 2] = (byte)(bar ? 0 : inside ? 140 : 128);
        }
        return JpegCodec.Encode(rgb, Width, Height, quality: 80);
    }
}
