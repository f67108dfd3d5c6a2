using System.ComponentModel.DataAnnotations;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace PiOrchestrator.Http;

/// <summary>A string property's OpenAPI format (e.g. <c>uuid</c>), for the document the dashboard generates its client from.</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class ApiFormatAttribute(string format) : Attribute
{
    public string Format { get; } = format;
}

/// <summary>A response header an endpoint sends with one status (ETag, Retry-After, Location), for the document.</summary>
public sealed record ResponseHeaderMetadata(int StatusCode, string Name, string Description);

/// <summary>A named example of one JSON answer, made by <paramref name="Json"/> when the document is built.</summary>
public sealed record ResponseExampleMetadata(int StatusCode, string Name, string Summary, Func<string> Json);

/// <summary>A file answer (a JPEG, a zip): bytes of <paramref name="ContentType"/>, described without a .NET type (none has JSON metadata).</summary>
public sealed record FileResponseMetadata(int StatusCode, string ContentType, string Description);

/// <summary>What a query parameter means and, for a closed set, the values it takes; the framework knows only its name and type.</summary>
public sealed record QueryParameterMetadata(string Name, string Description, IReadOnlyList<string>? Values);

/// <summary>Marks an endpoint that needs <c>Authorization: Bearer &lt;Api:Key&gt;</c>.</summary>
public sealed class BearerKeyMetadata;

/// <summary>
/// The OpenAPI document at /openapi/v1.json, described from the code: each endpoint declares its answers (Produces),
/// summary and headers; these transformers add what is the same for all of them and make the DTO schemas exact
/// (every always-written property required, no undeclared property, enums, formats, UTC timestamps with Z).
/// </summary>
public static class OpenApiDocument
{
    public const string BearerScheme = "bearer";
    public const string TimestampPattern = @"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$";

    private static readonly (string Name, string Description)[] Tags =
    [
        ("Sessions", "Door sessions: one per door cycle, newest first, with the state of its before/after pair; inspections a person opens and sessions a person ends (with the API key)."),
        ("Evidence", "The photos of a session (BEFORE_OPEN, AFTER_CLOSE, MANUAL, and DURING_OPEN timelapse frames), the before/after pair, images and their integrity."),
        ("Capture", "A technician's test capture; like every operation that changes anything, it needs the API key."),
        ("Access", "Invites for technicians (with the API key): a join link and a one-time code, exchanged once for a credential limited to some containers and some time."),
        ("Status", "The agent's own state: MQTT, storage, upload queue, cameras and door sensors; liveness and readiness probes."),
    ];

    /// <summary>Errors any operation can give, from the access checks in front of every endpoint.</summary>
    private static readonly (int Status, string Description)[] CommonErrors =
    [
        (400, "Invalid request (for any operation: a Host header this agent does not serve)."),
        (403, "The client's address is not in Api:AllowedNetworks."),
        (413, "The request declared a body over the limit (64 KB)."),
        (429, "Too many requests from this client; wait Retry-After seconds."),
        (500, "Internal error; the agent logged the details."),
    ];

    public static IServiceCollection AddApiOpenApi(this IServiceCollection services) =>
        services.AddOpenApi(o =>
        {
            o.AddDocumentTransformer((document, _, _) =>
            {
                // A fixed relative server, the agent that served the document: the framework's own entry echoes the request's Host.
                document.Servers = [new OpenApiServer { Url = "/", Description = "The agent that serves this document (port 8082 on a site)." }];
                document.Info.Title = "PiOrchestrator edge agent API";
                document.Info.Description =
                    "Door sessions and their before/after photo evidence, served by the agent on each site's Raspberry Pi. " +
                    "Every JSON answer is an envelope: {success, status, data, timestamp} on success, " +
                    "{success:false, status:\"error\", error:{code, message, field?}, timestamp} on failure. " +
                    "Timestamps are UTC ISO-8601 with milliseconds and Z. Reads are open; writes (a test capture, opening and ending a session) need the API key.";
                document.Components ??= new OpenApiComponents();
                document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
                document.Components.SecuritySchemes[BearerScheme] = new OpenApiSecurityScheme
                {
                    Type = SecuritySchemeType.Http,
                    Scheme = "bearer",
                    Description = "Authorization: Bearer <Api:Key>, the key in the agent's configuration (install.sh makes one).",
                };
                document.Tags = new HashSet<OpenApiTag>(Tags.Select(t => new OpenApiTag { Name = t.Name, Description = t.Description }));
                return Task.CompletedTask;
            });
            o.AddOperationTransformer((operation, context, _) =>
            {
                var metadata = context.Description.ActionDescriptor.EndpointMetadata;
                operation.Responses ??= new OpenApiResponses();
                foreach (var (status, description) in CommonErrors)
                    if (!operation.Responses.ContainsKey(Code(status))) operation.Responses[Code(status)] = ErrorResponse(context, description);
                // Kestrel refuses these before the app runs, so with no body.
                operation.Responses.TryAdd("431", new OpenApiResponse { Description = "The request's headers are too large (16 KB, 50 headers); no body." });
                foreach (var (code, response) in operation.Responses)
                {
                    if (response is not OpenApiResponse concrete) continue;
                    if (code is "429" or "503")
                        AddHeader(concrete, "Retry-After", "Seconds to wait before trying again (sent when the agent knows).", JsonSchemaType.String);
                }
                // Files are bytes, not base64 text; declared by metadata because a byte[] response type would need JSON
                // metadata the source-generated context does not have (the native build could not make the document).
                foreach (var file in metadata.OfType<FileResponseMetadata>())
                {
                    if (!operation.Responses.TryGetValue(Code(file.StatusCode), out var existing) || existing is not OpenApiResponse response)
                        operation.Responses[Code(file.StatusCode)] = response = new OpenApiResponse();
                    response.Description = file.Description;
                    response.Content ??= new Dictionary<string, OpenApiMediaType>();
                    response.Content[file.ContentType] = new OpenApiMediaType { Schema = new OpenApiSchema { Type = JsonSchemaType.String, Format = "binary" } };
                }
                foreach (var header in metadata.OfType<ResponseHeaderMetadata>())
                    if (operation.Responses.TryGetValue(Code(header.StatusCode), out var response) && response is OpenApiResponse concrete)
                        AddHeader(concrete, header.Name, header.Description, JsonSchemaType.String);
                foreach (var example in metadata.OfType<ResponseExampleMetadata>())
                    if (operation.Responses.TryGetValue(Code(example.StatusCode), out var response)
                        && response.Content?.TryGetValue("application/json", out var json) == true && json is OpenApiMediaType media)
                    {
                        media.Examples ??= new Dictionary<string, IOpenApiExample>();
                        media.Examples[example.Name] = new OpenApiExample { Summary = example.Summary, Value = JsonNode.Parse(example.Json()) };
                    }
                foreach (var query in metadata.OfType<QueryParameterMetadata>())
                    if (operation.Parameters?.OfType<OpenApiParameter>().FirstOrDefault(p => p.In == ParameterLocation.Query && p.Name == query.Name) is { } parameter)
                    {
                        parameter.Description = query.Description;
                        if (query.Values is not null && parameter.Schema is OpenApiSchema schema)
                            schema.Enum = [.. query.Values.Select(v => (JsonNode)JsonValue.Create(v))];
                    }
                if (metadata.OfType<BearerKeyMetadata>().Any())
                {
                    operation.Security = [new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(BearerScheme, context.Document)] = [] }];
                    if (!operation.Responses.ContainsKey("401"))
                        operation.Responses["401"] = ErrorResponse(context, "No or wrong bearer key.");
                }
                else
                {
                    // Open to any client on the allowed networks: `security: []`.
                    operation.Security = [];
                }
                return Task.CompletedTask;
            });
            o.AddSchemaTransformer((schema, context, _) =>
            {
                // An object reached through a property comes with that property's context too: both apply.
                if (context.JsonTypeInfo.Kind == JsonTypeInfoKind.Object && context.JsonTypeInfo.Type.Assembly == typeof(OpenApiDocument).Assembly)
                    DescribeObject(schema, context.JsonTypeInfo);
                if (context.JsonPropertyInfo is { } property) DescribeProperty(schema, property);
                // Web defaults let numbers be read from strings, so the exporter allows a string; the agent always writes a number.
                if (schema.Type is { } type && (type & (JsonSchemaType.Integer | JsonSchemaType.Number)) != 0 && type.HasFlag(JsonSchemaType.String))
                {
                    schema.Type = type & ~JsonSchemaType.String;
                    schema.Pattern = null;
                }
                if (context.JsonTypeInfo.Type == typeof(DateTimeOffset) || context.JsonTypeInfo.Type == typeof(DateTimeOffset?))
                {
                    schema.Format = "date-time";
                    schema.Pattern = TimestampPattern;
                }
                return Task.CompletedTask;
            });
        });

    /// <summary>Every property the serializer always writes is required (null included where it can be); no others may appear.</summary>
    private static void DescribeObject(OpenApiSchema schema, JsonTypeInfo type)
    {
        schema.AdditionalPropertiesAllowed = false;
        schema.Required = new HashSet<string>(type.Properties.Where(p => !OmittedWhenNull(p)).Select(p => p.Name));
    }

    private static void DescribeProperty(OpenApiSchema schema, JsonPropertyInfo property)
    {
        var attributes = property.AttributeProvider;
        if (attributes is null) return;
        // Omitted when null, so never null when present.
        if (OmittedWhenNull(property) && schema.Type is { } type && type.HasFlag(JsonSchemaType.Null) && type != JsonSchemaType.Null)
            schema.Type = type & ~JsonSchemaType.Null;
        foreach (var allowed in attributes.GetCustomAttributes(typeof(AllowedValuesAttribute), false).Cast<AllowedValuesAttribute>())
        {
            schema.Enum = allowed.Values.Select(v => v switch
            {
                string s => JsonValue.Create(s),
                bool b => (JsonNode)JsonValue.Create(b),
                _ => throw new InvalidOperationException($"AllowedValues of {property.Name} must be strings or booleans"),
            }).ToList();
            // A computed property carries no nullability the exporter can read; its values say it.
            if (!property.IsGetNullable || allowed.Values.All(v => v is not null)) schema.Type &= ~JsonSchemaType.Null;
        }
        foreach (var format in attributes.GetCustomAttributes(typeof(ApiFormatAttribute), false).Cast<ApiFormatAttribute>())
            schema.Format = format.Format;
        foreach (var pattern in attributes.GetCustomAttributes(typeof(RegularExpressionAttribute), false).Cast<RegularExpressionAttribute>())
            schema.Pattern = pattern.Pattern;
    }

    private static bool OmittedWhenNull(JsonPropertyInfo property) =>
        property.AttributeProvider?.GetCustomAttributes(typeof(JsonIgnoreAttribute), false).Cast<JsonIgnoreAttribute>()
            .Any(i => i.Condition == JsonIgnoreCondition.WhenWritingNull) == true;

    private static string Code(int status) => status.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static OpenApiResponse ErrorResponse(OpenApiOperationTransformerContext context, string description) => new()
    {
        Description = description,
        Content = new Dictionary<string, OpenApiMediaType>
        {
            ["application/json"] = new() { Schema = new OpenApiSchemaReference(nameof(ApiErrorEnvelope), context.Document) },
        },
    };

    private static void AddHeader(OpenApiResponse response, string name, string description, JsonSchemaType type)
    {
        response.Headers ??= new Dictionary<string, IOpenApiHeader>();
        response.Headers[name] = new OpenApiHeader { Description = description, Schema = new OpenApiSchema { Type = type } };
    }

    // Endpoint declarations, used by each feature's Map…Api.

    public static RouteHandlerBuilder ProducesEnvelope<T>(this RouteHandlerBuilder endpoint, int statusCode = 200) =>
        endpoint.Produces<ApiEnvelope<T>>(statusCode, "application/json");

    /// <summary>The error envelope for each status; the code enum is in the ApiErrorEnvelope schema.</summary>
    public static RouteHandlerBuilder ProducesErrors(this RouteHandlerBuilder endpoint, params int[] statusCodes)
    {
        foreach (var status in statusCodes) endpoint.Produces<ApiErrorEnvelope>(status, "application/json");
        return endpoint;
    }

    /// <summary>An ETag on 200 and a bodiless 304 for an If-None-Match that names it.</summary>
    public static RouteHandlerBuilder ProducesNotModified(this RouteHandlerBuilder endpoint, string etagDescription) =>
        endpoint.Produces(StatusCodes.Status304NotModified)
            .WithMetadata(new ResponseHeaderMetadata(200, "ETag", etagDescription))
            .WithMetadata(new ResponseHeaderMetadata(304, "ETag", etagDescription));

    public static RouteHandlerBuilder ProducesFile(this RouteHandlerBuilder endpoint, string contentType, string description, int statusCode = 200) =>
        endpoint.WithMetadata(new FileResponseMetadata(statusCode, contentType, description));

    public static RouteHandlerBuilder WithResponseHeader(this RouteHandlerBuilder endpoint, int statusCode, string name, string description) =>
        endpoint.WithMetadata(new ResponseHeaderMetadata(statusCode, name, description));

    public static RouteHandlerBuilder WithResponseExample(this RouteHandlerBuilder endpoint, int statusCode, string name, string summary, Func<string> json) =>
        endpoint.WithMetadata(new ResponseExampleMetadata(statusCode, name, summary, json));

    public static RouteHandlerBuilder WithQueryParameter(this RouteHandlerBuilder endpoint, string name, string description, IReadOnlyList<string>? values = null) =>
        endpoint.WithMetadata(new QueryParameterMetadata(name, description, values));

    /// <summary>Marks the endpoint as needing Api:Key: <see cref="ApiKey.UseApiKey"/> refuses it without the key, and the document says so.</summary>
    public static RouteHandlerBuilder RequiresApiKey(this RouteHandlerBuilder endpoint) => endpoint.WithMetadata(new BearerKeyMetadata());

    /// <summary>Also open to a technician's credential for the containers it covers (<see cref="ContainerScopeMetadata"/>).</summary>
    public static RouteHandlerBuilder AllowsScopedCredential(this RouteHandlerBuilder endpoint, ContainerScopeMetadata scope) => endpoint.WithMetadata(scope);
}
