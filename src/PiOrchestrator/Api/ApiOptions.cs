namespace PiOrchestrator.Api;

public sealed class ApiOptions
{
    /// <summary>When set, mutating endpoints need <c>Authorization: Bearer &lt;key&gt;</c>. Read-only evidence stays key-free.</summary>
    public string? Key { get; set; }
}
