using Microsoft.AspNetCore.Http.HttpResults;
using PiOrchestrator.Http;
using PiOrchestrator.Store;

namespace PiOrchestrator.Evidence;

/// <summary>The device's evidence-signing public key: what a verifier needs besides the captures themselves.</summary>
public sealed record DeviceDto(
    string DeviceId, [property: System.ComponentModel.DataAnnotations.RegularExpression("^[0-9a-f]{64}$")] string KeyId, string PublicKeyPem, DateTimeOffset CreatedAt,
    IReadOnlyList<DeviceKeyDto> Keys);

/// <summary>A key that signed captures on this device, from its first use until it was replaced (valid_to null: the key in use).</summary>
public sealed record DeviceKeyDto(
    [property: System.ComponentModel.DataAnnotations.RegularExpression("^[0-9a-f]{64}$")] string KeyId, string PublicKeyPem,
    DateTimeOffset ValidFrom, DateTimeOffset? ValidTo);

public static class DeviceApi
{
    /// <summary>Part of the evidence API (<see cref="EvidenceApi.MapEvidenceApi"/>): what a verifier needs besides the captures.</summary>
    internal static void MapDevice(this RouteGroupBuilder api) =>
        api.MapGet("/device", GetDevice).WithName("GetDevice")
            .WithSummary("Read the device's evidence-signing public key")
            .WithDescription("The Pi's ECDSA P-256 public key (PEM) that signs every capture, and its key_id (hex sha256 of the " +
                "SubjectPublicKeyInfo DER) as carried on each capture. Verify a capture's signature with the key its key_id names over the canonical line " +
                "nexbasira-edge-capture-v1|evidence_id|session_id|container_id|capture_tag|captured_at|sha256. keys lists every key " +
                "that ever signed here (a rotated key stays listed, with the period it was in use).")
            .ProducesEnvelope<DeviceDto>();

    public static JsonHttpResult<ApiEnvelope<DeviceDto>> GetDevice(DeviceKey key, EvidenceStore store, TimeProvider time) =>
        Envelope.Ok(new DeviceDto(key.DeviceId, key.KeyId, key.PublicKeyPem, key.CreatedAt,
                [.. store.GetDeviceKeys().Select(k => new DeviceKeyDto(k.KeyId, k.PublicKeyPem, k.ValidFrom, k.ValidTo))]),
            EvidenceJsonContext.Default.ApiEnvelopeDeviceDto, time);
}
