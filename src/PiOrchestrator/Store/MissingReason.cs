namespace PiOrchestrator.Store;

/// <summary>Why one side of a before/after pair has no good picture (the pair endpoint's missing_reason).</summary>
public static class MissingReason
{
    public const string SessionInProgress = "SESSION_IN_PROGRESS";
    public const string NoOpenEvent = "NO_OPEN_EVENT";
    public const string CaptureFailed = "CAPTURE_FAILED";
    public const string CameraOffline = "CAMERA_OFFLINE";
    public const string DoorLeftOpen = "DOOR_LEFT_OPEN";
}
