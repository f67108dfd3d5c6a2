using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using PiOrchestrator.Hosting;

namespace PiOrchestrator.Metrics;

/// <summary>
/// <c>GET /metrics</c> in Prometheus text format, through OpenTelemetry's exporter (annotated for native AOT).
/// Behind the same allow-list as the API: <see cref="Http.ApiAccess"/> runs for every request.
/// </summary>
public static class MetricsExtensions
{
    // Not AddMetrics: Microsoft.Extensions.DependencyInjection has one with this signature.
    public static IServiceCollection AddAgentMetrics(this IServiceCollection services)
    {
        // Built with the host's services when it starts, after options are validated (a bad configuration still stops
        // the agent with one line per problem); the exporter is built earlier, when /metrics is mapped.
        services.AddHostedService<AgentGauges>();
        services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService("piorchestrator", serviceVersion: AgentVersion.Current))
            .WithMetrics(metrics => metrics
            .AddMeter(AgentMeter.Name, AgentGauges.MeterName)
            // Each scrape reads the state as it is now (the exporter would otherwise answer from a 300 ms cache).
            .AddPrometheusExporter(o => o.ScrapeResponseCacheDurationMilliseconds = 0));
        return services;
    }

    public static IEndpointRouteBuilder MapMetrics(this IEndpointRouteBuilder app)
    {
        app.MapPrometheusScrapingEndpoint("/metrics");
        return app;
    }
}
