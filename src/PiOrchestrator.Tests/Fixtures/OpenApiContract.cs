using System.Collections.Concurrent;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Json.Schema;

namespace PiOrchestrator.Tests.Fixtures;

/// <summary>
/// The agent's OpenAPI document as a contract: an answer (operation, status, body) either is one the document declares,
/// with a body its schema accepts (JSON Schema 2020-12, formats asserted), or the check names what differs.
/// </summary>
public sealed class OpenApiContract
{
    private static readonly EvaluationOptions Evaluation = new() { OutputFormat = OutputFormat.List, RequireFormatValidation = true };

    private readonly JsonObject _document;
    private readonly string _definitions;
    private readonly List<(Regex Pattern, string Template, int Parameters)> _paths;
    private readonly ConcurrentDictionary<string, JsonSchema> _schemas = new();

    public OpenApiContract(string documentJson)
    {
        _document = JsonNode.Parse(documentJson)!.AsObject();
        // Component schemas become $defs of each response schema, so their references resolve inside it.
        _definitions = _document["components"]?["schemas"]?.ToJsonString() ?? "{}";
        _paths = _document["paths"]!.AsObject().Select(p => p.Key)
            .Select(t => (new Regex("^" + Regex.Replace(Regex.Escape(t), @"\\\{[^/]+?}", "[^/]+") + "$"), t, t.Count(c => c == '{')))
            .OrderBy(p => p.Item3).ToList();
    }

    public JsonObject Document => _document;

    private static readonly ConcurrentDictionary<string, OpenApiContract> Loaded = new();

    /// <summary>
    /// The document served at /openapi/v1.json by the agent at <paramref name="baseAddress"/>, kept per build
    /// (<paramref name="build"/>: the in-process app, the agent dll, a native executable); null while it cannot be read
    /// (an agent still starting, or one configured to refuse this client), then the answer goes unchecked.
    /// </summary>
    public static async Task<OpenApiContract?> LoadAsync(string build, Func<HttpClient> client)
    {
        if (Loaded.TryGetValue(build, out var known)) return known;
        try
        {
            using var http = client();
            using var response = await http.GetAsync("/openapi/v1.json");
            if (!response.IsSuccessStatusCode) return null;
            return Loaded.GetOrAdd(build, new OpenApiContract(await response.Content.ReadAsStringAsync()));
        }
        catch (HttpRequestException)
        {
            return null;
        }
    }

    /// <summary>The document's path template a request path falls under (a literal segment wins over a parameter).</summary>
    public string? TemplateOf(string path) => _paths.FirstOrDefault(p => p.Pattern.IsMatch(path)).Template;

    /// <summary>Problems with one answer; empty when the document declares it exactly.</summary>
    public IReadOnlyList<string> Check(string method, string path, int status, string? contentType, string body, HttpResponseHeaders? headers = null)
    {
        var template = TemplateOf(path);
        var operation = template is null ? null : _document["paths"]![template]![method.ToLowerInvariant()];
        JsonNode? schema;
        string where;
        if (operation is null)
        {
            // No such operation (unknown route, wrong method): a JSON answer is still the error envelope.
            if (status < 400 || contentType != "application/json") return [];
            schema = new JsonObject { ["$ref"] = "#/components/schemas/ApiErrorEnvelope" };
            where = $"{method} {path} (no operation) {status}";
        }
        else
        {
            where = $"{method} {template} {status}";
            if (operation["responses"]?[status.ToString()] is not JsonObject response)
                return [$"{where}: the document declares no {status} answer for this operation"];
            var problems = new List<string>();
            foreach (var (name, _) in response["headers"]?.AsObject() ?? [])
                if (name is "ETag" or "Location" && headers is not null && !headers.Contains(name))
                    problems.Add($"{where}: declared header {name} is missing");
            var content = response["content"]?.AsObject();
            if (content is null || content.Count == 0)
            {
                if (body.Length > 0) problems.Add($"{where}: a body was sent where the document declares none");
                return problems;
            }
            if (contentType is null || !content.ContainsKey(contentType))
                return [.. problems, $"{where}: content type {contentType ?? "(none)"} is not one of {string.Join(", ", content.Select(c => c.Key))}"];
            if (contentType != "application/json") return problems;
            schema = content[contentType]!["schema"];
            if (schema is null) return [.. problems, $"{where}: no schema declared"];
            return [.. problems, .. Validate(where, schema, body)];
        }
        return Validate(where, schema, body);
    }

    /// <summary>Whether a JSON body fits a schema of the document; the problems when not.</summary>
    public IReadOnlyList<string> Validate(string where, JsonNode schema, string body)
    {
        JsonNode? instance;
        try { instance = JsonNode.Parse(body); }
        catch (System.Text.Json.JsonException e) { return [$"{where}: the body is not JSON ({e.Message})"]; }
        var text = schema.ToJsonString();
        var compiled = _schemas.GetOrAdd(text, _ => JsonSchema.FromText(
            ("{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"$defs\":" + _definitions + ",\"allOf\":[" + text + "]}")
                .Replace("#/components/schemas/", "#/$defs/", StringComparison.Ordinal)));
        var result = compiled.Evaluate(instance, Evaluation);
        if (result.IsValid) return [];
        return result.Details.Where(d => d.Errors is { Count: > 0 })
            .SelectMany(d => d.Errors!.Select(e => $"{where}: at {d.InstanceLocation} ({d.EvaluationPath}): {e.Key}: {e.Value}"))
            .DefaultIfEmpty($"{where}: the body does not fit the schema").ToList();
    }

    /// <summary>Throws with every problem of one received answer.</summary>
    public async Task AssertAsync(HttpRequestMessage request, HttpResponseMessage response)
    {
        await response.Content.LoadIntoBufferAsync();
        var body = await response.Content.ReadAsStringAsync();
        var problems = Check(request.Method.Method, request.RequestUri!.AbsolutePath, (int)response.StatusCode,
            response.Content.Headers.ContentType?.MediaType, response.Content.Headers.ContentType?.MediaType == "image/jpeg" ? "" : body, response.Headers);
        if (problems.Count > 0)
            throw new OpenApiContractException(string.Join("\n", problems) + "\nbody: " + (body.Length > 2000 ? body[..2000] + "…" : body));
    }

}

public sealed class OpenApiContractException(string message) : Exception(message);

/// <summary>
/// Checks every answer a test client receives against the document the same agent serves, so the API and
/// agent-process tests prove the document as they run.
/// </summary>
public sealed class OpenApiContractHandler(Func<Task<OpenApiContract?>> contract) : DelegatingHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var response = await base.SendAsync(request, cancellationToken);
        var path = request.RequestUri!.AbsolutePath;
        // The document describes the API and the probes; the status page and the document itself are not operations.
        if (path.StartsWith("/api/", StringComparison.Ordinal) || path is "/healthz" or "/readyz")
            if (await contract() is { } document) await document.AssertAsync(request, response);
        return response;
    }
}
