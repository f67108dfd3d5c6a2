using Microsoft.Extensions.Options;

namespace PiOrchestrator.Capture;

public static class CaptureExtensions
{
    public static IServiceCollection AddCapture(this IServiceCollection services)
    {
        services.AddOptions<CaptureOptions>().BindConfiguration("Capture").ValidateOnStart();
        services.AddSingleton<IValidateOptions<CaptureOptions>, CaptureOptionsAnnotations>();
        services.AddSingleton<IValidateOptions<CaptureOptions>, JpegLibraryCheck>();
        services.AddSingleton<IValidateOptions<Site.SiteOptions>, FrameSizeSettingCheck>();
        services.AddSingleton<CameraConnections>();
        services.AddSingleton(sp => new CameraClient(new HttpClient(new SocketsHttpHandler
        {
            ConnectTimeout = TimeSpan.FromSeconds(3),
            ConnectCallback = sp.GetRequiredService<CameraConnections>().ConnectAsync,
            // One connection per camera, kept: the firmware serves one request at a time anyway, and a connection the
            // agent holds is one of the camera's 7 sockets that browser tabs cannot take from it. The status poll
            // (every 30 s) keeps it in use; a camera gone away is noticed by keep-alive probes (CameraConnections).
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
            MaxConnectionsPerServer = 1,
            // A camera's redirect is never followed: it could point the agent anywhere (request forgery) and make
            // another host's JPEG this container's evidence.
            AllowAutoRedirect = false,
            MaxResponseHeadersLength = 16,
        })
        {
            // Each capture carries its own deadline.
            Timeout = Timeout.InfiniteTimeSpan,
        }, sp.GetRequiredService<CameraConnections>()));
        services.AddSingleton<FrameFreshness>();
        services.AddSingleton<CameraHealth>();
        services.AddSingleton<CaptureService>();
        services.AddSingleton<ManualCaptureBudget>();
        services.AddSingleton<CameraHealthMonitor>();
        services.AddHostedService(sp => sp.GetRequiredService<CameraHealthMonitor>());
        return services;
    }

    /// <summary>Every frame is decode-checked, so the agent does not start without libturbojpeg.</summary>
    private sealed class JpegLibraryCheck : IValidateOptions<CaptureOptions>
    {
        public ValidateOptionsResult Validate(string? name, CaptureOptions options) =>
            JpegCodec.TryLoadLibrary(out var error) ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(error);
    }
}
