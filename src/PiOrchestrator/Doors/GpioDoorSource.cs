using Microsoft.Extensions.Options;
using PiOrchestrator.Site;

namespace PiOrchestrator.Doors;

/// <summary>
/// Door contacts on GPIO: one dedicated thread per sensor blocks in gpiod_line_event_wait (no polling loop), feeds
/// a debouncer, and posts opened/closed once a level is stable. The level at start is read, not reported: a door
/// already open at boot starts no session, and its later close is handled like any close. A sensor that cannot be
/// opened is one error for its container, retried every minute; the rest of the agent runs on.
/// </summary>
public sealed class GpioDoorSource(
    IOptions<SiteOptions> site,
    IDoorSensorFactory sensors,
    IDoorEventSink sink,
    DoorSensorRegistry registry,
    Systemd.LoopHeartbeats heartbeats,
    TimeProvider time,
    ILogger<GpioDoorSource> log) : BackgroundService
{
    private static readonly TimeSpan WaitSlice = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan ReopenEvery = TimeSpan.FromMinutes(1);

    protected override Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var doors = site.Value.Containers.Where(c => c.Door is not null).ToList();
        var threads = doors.Select(c => new Thread(() => Watch(c, stoppingToken)) { IsBackground = true, Name = $"gpio-{c.Id}" }).ToList();
        foreach (var t in threads) t.Start();
        if (doors.Count > 0)
            log.LogInformation("Watching GPIO door sensors: {Doors}", string.Join(", ", doors.Select(c => $"{c.Id} ({c.Door!.Chip} line {c.Door.Line})")));
        // The threads stop within one wait slice of the token; the host waits for this task.
        return Task.Run(() =>
        {
            foreach (var t in threads) t.Join();
        }, CancellationToken.None);
    }

    private void Watch(ContainerOptions container, CancellationToken stop)
    {
        var failedOnce = false;
        while (!stop.IsCancellationRequested)
        {
            using var sensor = sensors.Create(container);
            if (!sensor.TryOpen(out var error))
            {
                registry.Set(container.Id, new DoorSensorStatus("failed", error, time.GetUtcNow()));
                heartbeats.Beat("gpio-" + container.Id, ReopenEvery);
                if (!failedOnce) log.LogError("Door sensor of {ContainerId} is not working: {Error}; MQTT door events still count", container.Id, error);
                failedOnce = true;
                stop.WaitHandle.WaitOne(ReopenEvery);
                continue;
            }
            if (failedOnce) log.LogInformation("Door sensor of {ContainerId} is working again", container.Id);
            failedOnce = false;
            try
            {
                Run(container, sensor, stop);
                return;
            }
            catch (IOException ex)
            {
                registry.Set(container.Id, new DoorSensorStatus("failed", ex.Message, time.GetUtcNow()));
                log.LogError("Door sensor of {ContainerId} failed: {Error}; reopening", container.Id, ex.Message);
                failedOnce = true;
                stop.WaitHandle.WaitOne(TimeSpan.FromSeconds(5));
            }
        }
    }

    private void Run(ContainerOptions container, IDoorSensor sensor, CancellationToken stop)
    {
        using var debouncer = new Debouncer(TimeSpan.FromMilliseconds(container.Door!.DebounceMs), time, (open, at) =>
            sink.Post(new DoorEvent(container.Id, open ? DoorEventKind.Opened : DoorEventKind.Closed, DoorEventSource.Gpio, at)));
        var initial = sensor.ReadIsOpen();
        debouncer.Initialise(initial);
        registry.Set(container.Id, new DoorSensorStatus("ok", null, time.GetUtcNow()));
        log.LogInformation("Door sensor of {ContainerId} ready; door is {State}", container.Id, initial ? "open" : "closed");
        while (!stop.IsCancellationRequested)
        {
            heartbeats.Beat("gpio-" + container.Id, WaitSlice);
            if (sensor.WaitForEdge(WaitSlice) is { } edge)
                debouncer.Feed(edge.IsOpen, edge.At);
        }
    }
}
