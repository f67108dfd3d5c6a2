using System.Reflection;
using System.Security.Cryptography;
using PiOrchestrator.Http;

namespace PiOrchestrator.Status;

/// <summary>
/// The technicians' page on port 8082: static HTML/CSS/JS embedded in the agent (no build step, no CDN: sites have
/// no internet). It reads only the JSON API. Strict CSP: scripts and styles from this origin only, nothing inline.
/// </summary>
public static class StatusPageExtensions
{
    private const string ContentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

    private static readonly Dictionary<string, (byte[] Bytes, string ContentType, string ETag)> Assets = Load();

    public static IEndpointRouteBuilder MapStatusPage(this IEndpointRouteBuilder app)
    {
        app.MapGet("/", (HttpContext context) => Serve(context, "index.html")).ExcludeFromDescription();
        // An invite's join_url: the same page, which takes the token from the address and asks for the one-time code.
        app.MapGet("/join/{token}", (HttpContext context) => Serve(context, "index.html")).ExcludeFromDescription();
        app.MapGet("/status-page/{file}", (string file, HttpContext context) => Serve(context, file)).ExcludeFromDescription();
        return app;
    }

    private static IResult Serve(HttpContext context, string file)
    {
        if (!Assets.TryGetValue(file, out var asset)) return ApiErrors.NotFound("no such file");
        var headers = context.Response.Headers;
        headers.ContentSecurityPolicy = ContentSecurityPolicy;
        headers.XContentTypeOptions = "nosniff";
        headers["Referrer-Policy"] = "no-referrer";
        headers.XFrameOptions = "DENY";
        headers.CacheControl = "no-cache";
        return TypedResults.Bytes(asset.Bytes, asset.ContentType, entityTag: new Microsoft.Net.Http.Headers.EntityTagHeaderValue(asset.ETag));
    }

    private static Dictionary<string, (byte[], string, string)> Load()
    {
        var assembly = Assembly.GetExecutingAssembly();
        var assets = new Dictionary<string, (byte[], string, string)>(StringComparer.Ordinal);
        foreach (var (name, type) in new[] { ("index.html", "text/html; charset=utf-8"), ("status.css", "text/css; charset=utf-8"), ("status.js", "text/javascript; charset=utf-8") })
        {
            using var stream = assembly.GetManifestResourceStream("StatusPage/" + name) ?? throw new InvalidOperationException($"status page asset {name} is not embedded");
            using var buffer = new MemoryStream();
            stream.CopyTo(buffer);
            var bytes = buffer.ToArray();
            assets[name] = (bytes, type, $"\"{Convert.ToHexStringLower(SHA256.HashData(bytes))[..16]}\"");
        }
        return assets;
    }
}
