using System.Security.Cryptography;
using System.Text;
using PiOrchestrator.Http;
using PiOrchestrator.Store;

namespace PiOrchestrator.Sessions;

/// <summary>
/// The Idempotency-Key header of a request that makes a session: checked, scoped to the operation and container, and
/// fingerprinted, so that a repeat with another body is told apart from a retry (IETF draft-ietf-httpapi-idempotency-key-header).
/// </summary>
public static class IdempotencyKeys
{
    public const string Header = "Idempotency-Key";

    /// <summary>The header's key (Value null when none was sent), or null when it is not a valid key.</summary>
    public static Optional? Read(HttpContext context, string scope, string fingerprint)
    {
        var values = context.Request.Headers[Header];
        if (values.Count == 0) return new Optional(null);
        if (values.Count > 1 || !Validation.IsValidKey(values[0])) return null;
        return new Optional(new IdempotencyRecord(scope, values[0]!, fingerprint, "", default));
    }

    public static ApiErrorResult Invalid => ApiErrors.InvalidRequest(Header,
        $"{Header} must be one header of 1-{Validation.MaxKeyLength} characters of [A-Za-z0-9._:/-], without '..', '//' or a leading '/'");

    /// <summary>SHA-256 over the request's fields, each length-prefixed so that no two bodies give the same text.</summary>
    public static string Fingerprint(params string?[] fields)
    {
        var text = new StringBuilder();
        foreach (var field in fields) text.Append(field is null ? "-1:" : $"{field.Length}:{field}");
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())));
    }

    public readonly record struct Optional(IdempotencyRecord? Value);
}
