using System.Net;
using System.Net.Http.Headers;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using PiOrchestrator.Http;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.Api;

/// <summary>Marking an endpoint with RequiresApiKey is what protects it: a new endpoint needs no key check of its own.</summary>
public class ApiKeyTests
{
    [Fact]
    public async Task An_endpoint_marked_as_needing_the_key_is_refused_without_it_and_an_unmarked_one_is_not()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://127.0.0.1:{TestPorts.Free()}");
        builder.Services.Configure<ApiOptions>(o => o.Key = "site-admin-key");
        await using var app = builder.Build();
        app.UseApiKey();
        // A new endpoint that only carries the mark: no check of the key inside it.
        app.MapPost("/new-write", () => TypedResults.Ok("done")).RequiresApiKey();
        app.MapGet("/open-read", () => TypedResults.Ok("open"));
        await app.StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri(app.Urls.First()) };

        Assert.Equal(HttpStatusCode.Unauthorized, (await http.PostAsync("/new-write", null)).StatusCode);
        using var wrong = new HttpRequestMessage(HttpMethod.Post, "/new-write") { Headers = { Authorization = new AuthenticationHeaderValue("Bearer", "guess") } };
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.SendAsync(wrong)).StatusCode);
        using var right = new HttpRequestMessage(HttpMethod.Post, "/new-write") { Headers = { Authorization = new AuthenticationHeaderValue("Bearer", "site-admin-key") } };
        Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(right)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/open-read")).StatusCode);
        await app.StopAsync();
    }
}
