using PiOrchestrator.Http;

namespace PiOrchestrator.Sessions;

/// <summary>The bounds of what people write on a session: notes, their name or email, a reason to end it.</summary>
public static class SessionInputs
{
    public const int MaxNotes = 1000;
    public const int MaxOpenedBy = 254;
    public const int MaxReason = 500;
    /// <summary>A session request is a few hundred bytes; more is refused before it is read.</summary>
    public const int MaxBodyBytes = 8 * 1024;

    /// <summary>Who is asking, as the API key check found: the admin (Api:Key), a technician by name, or anonymous with no key set.</summary>
    public static Actor Requester(HttpContext context) =>
        new(context.Caller().Name, ApiAccess.ClientAddress(context.Connection.RemoteIpAddress)?.ToString());

    public static ApiErrorResult? CheckOpenedBy(string? value, string field) => Validation.CheckPersonName(value, field, MaxOpenedBy);

    /// <summary>Free text shown on the status page and in exports: bounded, and no control characters but line breaks and tabs.</summary>
    public static ApiErrorResult? CheckText(string? value, string field, int max)
    {
        if (value is null) return null;
        if (value.Length > max) return ApiErrors.InvalidRequest(field, $"{field} must be at most {max} characters");
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (char.IsControl(c) && c is not '\n' and not '\r' and not '\t')
                return ApiErrors.InvalidRequest(field, $"{field} must not contain control characters (line breaks and tabs are allowed)");
            // A lone surrogate (a JSON escape such as \ud800) is no character at all.
            if (char.IsHighSurrogate(c) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1])) i++;
            else if (char.IsSurrogate(c)) return ApiErrors.InvalidRequest(field, $"{field} must be valid Unicode text");
        }
        return null;
    }
}
