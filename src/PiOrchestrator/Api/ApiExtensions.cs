using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace PiOrchestrator.Api;

public static class ApiExtensions
{
    public static IServiceCollection AddApi(this IServiceCollection services)
    {
        services.ConfigureHttpJsonOptions(o =>
        {
            o.SerializerOptions.TypeInfoResolverChain.Insert(0, AppJsonContext.Default);
            o.SerializerOptions.PropertyNamingPolicy = System.Text.Json.JsonNamingPolicy.SnakeCaseLower;
        });
        services.AddOpenApi();
        services.AddSingleton<AgentClock>();
        services.AddOptions<ApiOptions>().BindConfiguration("Api");
        services.Configure<KestrelServerOptions>(kestrel =>
        {
            kestrel.AddServerHeader = false;
            // Nothing this agent accepts has a large body or many headers; refuse early what a Pi cannot afford.
            kestrel.Limits.MaxRequestBodySize = 64 * 1024;
            kestrel.Limits.MaxRequestHeadersTotalSize = 16 * 1024;
            kestrel.Limits.MaxRequestHeaderCount = 50;
            kestrel.Limits.RequestHeadersTimeout = TimeSpan.FromSeconds(10);
        });
        return services;
    }

    /// <summary>Every failure leaves as the error envelope: thrown exceptions, unknown routes, wrong methods.</summary>
    public static WebApplication UseApi(this WebApplication app)
    {
        app.UseExceptionHandler(error => error.Run(context =>
        {
            context.Response.StatusCode = 500;
            return ApiErrors.Internal("internal error; the agent logged the details").ExecuteAsync(context);
        }));
        app.UseStatusCodePages(context =>
        {
            var response = context.HttpContext.Response;
            if (response.HasStarted || response.ContentLength > 0 || response.ContentType is not null) return Task.CompletedTask;
            return ApiErrors.ForStatus(response.StatusCode).ExecuteAsync(context.HttpContext);
        });
        app.MapOpenApi();
        return app;
    }
}
