using Microsoft.Extensions.Options;
using PiOrchestrator.Net;

namespace PiOrchestrator.Capture;

public static class CaptureExtensions
{
    public static IServiceCollection AddCapture(this IServiceCollection services)
    {
        services.AddOptions<CaptureOptions>().BindConfiguration("Capture").ValidateOnStart();
        services.AddSingleton<IValidateOptions<CaptureOptions>, CaptureOptionsAnnotations>();
        services.AddSingleton<IValidateOptions<CaptureOptions>, JpegLibraryCheck>();
        services.AddSingleton(_ => new CameraClient(new HttpClient(new SocketsHttpHandler
        {
            ConnectTimeout = TimeSpan.FromSeconds(3),
            ConnectCallback = SocketThreading.ConnectAsync,
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(20),
            MaxConnectionsPerServer = 2,
            // A camera's redirect is never followed: it could point the agent anywhere (request forgery) and make
            // another host's JPEG this container's evidence.
            AllowAutoRedirect = false,
            MaxResponseHeadersLength = 16,
        })
        {
            // Each capture carries its own deadline.
            Timeout = Timeout.InfiniteTimeSpan,
        }));
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
