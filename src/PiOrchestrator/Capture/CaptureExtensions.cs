using Microsoft.Extensions.Options;
using PiOrchestrator.Hosting;
using PiOrchestrator.Jpeg;
using PiOrchestrator.Net;

namespace PiOrchestrator.Capture;

public static class CaptureExtensions
{
    public static IServiceCollection AddCapture(this IServiceCollection services)
    {
        services.AddOptions<CaptureOptions>().BindConfiguration("Capture").ValidateOnStart();
        services.AddSingleton<IValidateOptions<CaptureOptions>, CaptureOptionsAnnotations>();
        services.AddSingleton<IValidateOptions<CaptureOptions>, JpegLibraryCheck>();
        services.AddSingleton<IValidateOptions<Site.SiteOptions>, FrameSizeSettingCheck>();
        services.AddSingleton<IValidateOptions<Site.SiteOptions>, TimelapseSettingCheck>();
        services.AddSingleton<IValidateOptions<CaptureOptions>, TimelapseSettingCheck>();
        services.AddSingleton<CameraConnections>();
        services.AddSingleton(sp =>
        {
            var connections = sp.GetRequiredService<CameraConnections>();
            // A camera's redirect is never followed (OutgoingHttp): it could point the agent anywhere (request
            // forgery) and make another host's JPEG this container's evidence.
            var handler = OutgoingHttp.Handler((socket, endPoint) => connections.Track(socket, endPoint.Host, endPoint.Port));
            handler.ConnectTimeout = TimeSpan.FromSeconds(3);
            // One connection per camera, kept: the firmware serves one request at a time anyway, and a connection the
            // agent holds is one of the camera's 7 sockets that browser tabs cannot take from it. The status poll
            // (every 30 s) keeps it in use; a camera gone away is noticed by keep-alive probes (CameraConnections).
            handler.PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5);
            handler.MaxConnectionsPerServer = 1;
            handler.MaxResponseHeadersLength = 16;
            // Each capture carries its own deadline.
            return new CameraClient(new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan }, connections);
        });
        services.AddSingleton<FrameFreshness>();
        services.AddSingleton<CameraHealth>();
        services.AddSingleton<CaptureService>();
        services.AddSingleton<ManualCaptureBudget>();
        services.AddSingleton<CameraHealthMonitor>();
        services.AddHostedService(sp => sp.GetRequiredService<CameraHealthMonitor>());
        services.AddSingleton<CameraObserved>();
        services.AddSingleton<IGaugeSource>(sp => sp.GetRequiredService<CameraObserved>());
        services.AddSingleton<ISummaryPart>(sp => sp.GetRequiredService<CameraObserved>());
        return services;
    }

    /// <summary>Every frame is decode-checked, so the agent does not start without libturbojpeg.</summary>
    private sealed class JpegLibraryCheck : IValidateOptions<CaptureOptions>
    {
        public ValidateOptionsResult Validate(string? name, CaptureOptions options) =>
            JpegCodec.TryLoadLibrary(out var error) ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(error);
    }
}
