using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;
using PiOrchestrator.Net;

namespace PiOrchestrator.Http;

public static class ApiExtensions
{
    public static IServiceCollection AddApi(this IServiceCollection services)
    {
        services.ConfigureHttpJsonOptions(o => o.SerializerOptions.PropertyNamingPolicy = System.Text.Json.JsonNamingPolicy.SnakeCaseLower);
        services.AddApiJson(HttpJsonContext.Default);
        // A body that is not the JSON an endpoint takes is the client's error (400) in every environment, never a 500.
        services.Configure<Microsoft.AspNetCore.Routing.RouteHandlerOptions>(o => o.ThrowOnBadRequest = false);
        services.AddApiOpenApi();
        services.AddOptions<ApiOptions>().BindConfiguration("Api").ValidateOnStart();
        services.AddSingleton<IValidateOptions<ApiOptions>, ApiOptionsAnnotations>();
        services.AddApiAccess();
        services.AddSocketThreading();
        // Kestrel's options are built with the app, before options are validated: read the raw setting here
        // (a bad value still stops the agent with exit 78 before it listens).
        services.AddOptions<KestrelServerOptions>().Configure<IConfiguration, ConnectionsPerClient>((kestrel, configuration, connections) =>
        {
            var headersTimeout = Math.Clamp(configuration.GetValue("Api:RequestHeadersTimeoutSeconds", new ApiOptions().RequestHeadersTimeoutSeconds), 1, 300);
            kestrel.AddServerHeader = false;
            // Nothing this agent accepts has a large body or many headers; refuse early what a Pi cannot afford.
            kestrel.Limits.MaxRequestBodySize = 64 * 1024;
            kestrel.Limits.MaxRequestHeadersTotalSize = 16 * 1024;
            kestrel.Limits.MaxRequestHeaderCount = 50;
            // Slow clients: headers must arrive in time, bodies and responses must keep moving at 240 B/s.
            kestrel.Limits.RequestHeadersTimeout = TimeSpan.FromSeconds(headersTimeout);
            kestrel.Limits.MinRequestBodyDataRate = new MinDataRate(240, TimeSpan.FromSeconds(5));
            kestrel.Limits.MinResponseDataRate = new MinDataRate(240, TimeSpan.FromSeconds(5));
            kestrel.Limits.KeepAliveTimeout = TimeSpan.FromSeconds(60);
            kestrel.Limits.MaxConcurrentConnections = 1024;
            kestrel.ConfigureEndpointDefaults(listen => ApiAccess.LimitConnectionsPerClient(listen, connections));
        });
        return services;
    }

    /// <summary>
    /// A feature's source-generated JSON context, for its answers and for the OpenAPI document's schemas: each feature
    /// adds its own, so this floor lists none of their types.
    /// </summary>
    public static IServiceCollection AddApiJson(this IServiceCollection services, System.Text.Json.Serialization.Metadata.IJsonTypeInfoResolver context) =>
        services.ConfigureHttpJsonOptions(o => o.SerializerOptions.TypeInfoResolverChain.Insert(0, context));

    /// <summary>Every failure leaves as the error envelope: thrown exceptions, unknown routes, wrong methods.</summary>
    public static WebApplication UseApi(this WebApplication app)
    {
        app.UseExceptionHandler(error => error.Run(context =>
        {
            context.Response.StatusCode = 500;
            return ApiErrors.Internal("internal error; the agent logged the details").ExecuteAsync(context);
        }));
        app.UseApiAccess();
        app.UseApiKey();
        app.Use(next => context =>
            Validation.PathProblem(context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpRequestFeature>()?.RawTarget) is { } problem
                ? ApiErrors.InvalidRequest("path", problem).ExecuteAsync(context)
                : next(context));
        // A bare 4xx/5xx set by the framework (no route 404, wrong method 405, a parameter it could not bind 400)
        // leaves as the envelope too. Not UseStatusCodePages: that allocates a feature and a state machine on every
        // request; this costs neither when the endpoint finishes synchronously, as a 304 to a poller does.
        app.Use(next => context =>
        {
            var handled = next(context);
            return handled.IsCompletedSuccessfully ? EnvelopeBareStatus(context) : EnvelopeBareStatusAfter(handled, context);
        });
        app.MapOpenApi();
        return app;
    }

    private static Task EnvelopeBareStatus(HttpContext context)
    {
        var response = context.Response;
        if (response.StatusCode is < 400 or > 599 || response.HasStarted || response.ContentLength > 0 || response.ContentType is not null)
            return Task.CompletedTask;
        return ApiErrors.ForStatus(response.StatusCode).ExecuteAsync(context);
    }

    private static async Task EnvelopeBareStatusAfter(Task handled, HttpContext context)
    {
        await handled;
        await EnvelopeBareStatus(context);
    }
}
