using Microsoft.AspNetCore.Http.HttpResults;
using PiOrchestrator.Api;

namespace PiOrchestrator.Evidence;

/// <summary>The device's evidence-signing public key: what a verifier needs besides the captures themselves.</summary>
public sealed record DeviceDto(string DeviceId, string KeyId, string PublicKeyPem, DateTimeOffset CreatedAt);

public static class DeviceApi
{
    public static IEndpointRouteBuilder MapDeviceApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1").WithTags("Evidence");
        api.MapGet("/device", GetDevice).WithName("GetDevice");
        return app;
    }

    public static JsonHttpResult<ApiEnvelope<DeviceDto>> GetDevice(DeviceKey key, TimeProvider time) =>
        Envelope.Ok(new DeviceDto(key.DeviceId, key.KeyId, key.PublicKeyPem, key.CreatedAt), AppJsonContext.Default.ApiEnvelopeDeviceDto, time);
}
