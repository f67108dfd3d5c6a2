namespace PiOrchestrator.Api;

/// <summary><c>{"success":true,"status":"success","data":…,"timestamp":…}</c></summary>
public sealed record ApiEnvelope<T>(T Data, DateTimeOffset Timestamp)
{
    public bool Success => true;
    public string Status => "success";
    public T Data { get; } = Data;
    public DateTimeOffset Timestamp { get; } = Timestamp;
}

/// <summary><c>{"success":false,"status":"error","error":{"code","message","field"},"timestamp":…}</c></summary>
public sealed record ApiErrorEnvelope(ApiError Error, DateTimeOffset Timestamp)
{
    public bool Success => false;
    public string Status => "error";
    public ApiError Error { get; } = Error;
    public DateTimeOffset Timestamp { get; } = Timestamp;
}

public sealed record ApiError(string Code, string Message, [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] string? Field = null);
