namespace PiOrchestrator.Site;

/// <summary>One shipping container of the site: its camera and, optionally, a door sensor.</summary>
public sealed class ContainerOptions
{
    public string Id { get; set; } = "";

    /// <summary>The camera's device id as the dashboard shows it (espcam-a1b2c3).</summary>
    public string CameraId { get; set; } = "";

    public string CameraUrl { get; set; } = "";

    /// <summary>Overrides Capture:FlushFrames for this camera.</summary>
    public int? FlushFrames { get; set; }

    /// <summary>
    /// The frame size the camera is set to (QVGA, UXGA, QSXGA, 5MP: esp32-camera's names), for its capture deadlines.
    /// Unset: what the camera's <c>/status</c> last said, or the largest size until it said.
    /// </summary>
    public string? FrameSize { get; set; }

    /// <summary>Overrides Capture:DuringOpenIntervalSeconds for this container (0 turns its timelapse off).</summary>
    public double? DuringOpenIntervalSeconds { get; set; }

    public DoorSensorOptions? Door { get; set; }
}

public sealed class DoorSensorOptions
{
    public string Chip { get; set; } = "gpiochip0";
    public int Line { get; set; } = -1;
    public bool ActiveLow { get; set; } = true;
    public int DebounceMs { get; set; } = 50;
    public string Bias { get; set; } = "pull-up";
}

/// <summary>The configured containers (the <c>Containers</c> list of the configuration).</summary>
public sealed class SiteOptions
{
    public List<ContainerOptions> Containers { get; set; } = [];

    public ContainerOptions? Find(string containerId) =>
        Containers.Find(c => string.Equals(c.Id, containerId, StringComparison.Ordinal));
}
