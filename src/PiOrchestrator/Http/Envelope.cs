using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Http.HttpResults;

namespace PiOrchestrator.Http;

public static class Envelope
{
    public static JsonHttpResult<ApiEnvelope<T>> Ok<T>(T data, JsonTypeInfo<ApiEnvelope<T>> typeInfo, TimeProvider time) =>
        TypedResults.Json(new ApiEnvelope<T>(data, time.GetUtcNow()), typeInfo);
}
