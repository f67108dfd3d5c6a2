using Microsoft.Extensions.Options;
using PiOrchestrator.Site;

namespace PiOrchestrator.Doors;

/// <summary>
/// Door contacts on GPIO: per sensor, a loop takes the edges the driver's thread hands over, feeds a debouncer, and
/// posts opened/closed once a level is stable. The level at start is read, not reported: a door already open at boot
/// starts no session, and its later close is handled like any close. A sensor that cannot be opened is one error for
/// its container, retried every minute; the rest of the agent runs on.
/// </summary>
public sealed class GpioDoorSource(
    IOptions<SiteOptions> site,
    IGpioDriverFactory drivers,
    IDoorEventSink sink,
    DoorSensorRegistry registry,
    Hosting.LoopHeartbeats heartbeats,
    TimeProvider time,
    ILogger<GpioDoorSource> log) : BackgroundService
{
    /// <summary>How often each loop beats and compares the line's level with the edges it was given.</summary>
    public static readonly TimeSpan WaitSlice = TimeSpan.FromMilliseconds(500);

    public static readonly TimeSpan ReopenEvery = TimeSpan.FromMinutes(1);
    private static readonly TimeSpan ReopenAfterFault = TimeSpan.FromSeconds(5);
    private long _edgesTaken;

    /// <summary>Edges fed to the debouncers so far (tests wait on it before moving the clock).</summary>
    internal long EdgesTaken => Interlocked.Read(ref _edgesTaken);

    protected override Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var doors = site.Value.Containers.Where(c => c.Door is not null).ToList();
        if (doors.Count > 0)
            log.LogInformation("Watching GPIO door sensors: {Doors}", string.Join(", ", doors.Select(c => $"{c.Id} ({c.Door!.Chip} line {c.Door.Line})")));
        return Task.WhenAll(doors.Select(c => WatchAsync(c, stoppingToken)));
    }

    private static string LoopName(ContainerOptions container) => "gpio-" + container.Id;

    private async Task WatchAsync(ContainerOptions container, CancellationToken stop)
    {
        await Task.Yield();
        var door = container.Door!;
        var failedOnce = false;
        while (!stop.IsCancellationRequested)
        {
            GpioDoorSensor? sensor = null;
            var opened = drivers.TryOpen(door.Chip, out var driver, out var error)
                && GpioDoorSensor.TryOpen(driver, door, time, out sensor, out error);
            if (!opened)
            {
                registry.Set(container.Id, new DoorSensorStatus("failed", error, time.GetUtcNow()));
                heartbeats.Beat(LoopName(container), ReopenEvery);
                if (!failedOnce) log.LogError("Door sensor of {ContainerId} is not working: {Error}; MQTT door events still count", container.Id, error);
                failedOnce = true;
                if (!await WaitAsync(ReopenEvery, stop)) return;
                continue;
            }
            if (failedOnce) log.LogInformation("Door sensor of {ContainerId} is working again", container.Id);
            failedOnce = false;
            using (sensor)
            {
                try
                {
                    await RunAsync(container, sensor!, driver!.GetType().Name, stop);
                    return;
                }
                catch (IOException ex)
                {
                    registry.Set(container.Id, new DoorSensorStatus("failed", ex.Message, time.GetUtcNow()));
                    heartbeats.Beat(LoopName(container), ReopenAfterFault);
                    log.LogError("Door sensor of {ContainerId} failed: {Error}; reopening", container.Id, ex.Message);
                    failedOnce = true;
                }
            }
            if (!await WaitAsync(ReopenAfterFault, stop)) return;
        }
    }

    private async Task RunAsync(ContainerOptions container, GpioDoorSensor sensor, string driverName, CancellationToken stop)
    {
        using var debouncer = new Debouncer(TimeSpan.FromMilliseconds(container.Door!.DebounceMs), time, (open, at) =>
            sink.Post(new DoorEvent(container.Id, open ? DoorEventKind.Opened : DoorEventKind.Closed, DoorEventSource.Gpio, at)));
        // Edges queued before this read agree with it or come after it; either way the debouncer sorts them out.
        var lastSeen = sensor.ReadIsOpen();
        debouncer.Initialise(lastSeen);
        registry.Set(container.Id, new DoorSensorStatus("ok", null, time.GetUtcNow()));
        log.LogInformation("Door sensor of {ContainerId} ready on {Chip} line {Line} through System.Device.Gpio's {Driver}; door is {State}",
            container.Id, container.Door.Chip, container.Door.Line, driverName, lastSeen ? "open" : "closed");
        var mismatchSeen = false;
        while (!stop.IsCancellationRequested)
        {
            heartbeats.Beat(LoopName(container), WaitSlice);
            var gotEdge = false;
            using (var sliceEnd = new CancellationTokenSource(WaitSlice, time))
            using (var wait = CancellationTokenSource.CreateLinkedTokenSource(stop, sliceEnd.Token))
            {
                try
                {
                    gotEdge = await sensor.Edges.WaitToReadAsync(wait.Token);
                }
                catch (OperationCanceledException) when (!stop.IsCancellationRequested)
                {
                }
            }
            while (sensor.Edges.TryRead(out var edge))
            {
                debouncer.Feed(edge.IsOpen, edge.At);
                Interlocked.Increment(ref _edgesTaken);
                lastSeen = edge.IsOpen;
                mismatchSeen = false;
            }
            if (gotEdge || stop.IsCancellationRequested) continue;
            // A quiet slice: the level must still be the last one seen. A level that differs for two quiet slices in a
            // row means edges were lost (the driver's event thread ends silently on an error): it is fed like an edge.
            // One slice is not enough: an edge can be on its way from the driver's thread while the level is read.
            var now = sensor.ReadIsOpen();
            if (now == lastSeen)
            {
                mismatchSeen = false;
            }
            else if (!mismatchSeen)
            {
                mismatchSeen = true;
            }
            else
            {
                log.LogWarning("Door sensor of {ContainerId} reads {State} with no edge reported; taking the level as read", container.Id, now ? "open" : "closed");
                debouncer.Feed(now, time.GetUtcNow());
                lastSeen = now;
                mismatchSeen = false;
            }
        }
    }

    private async Task<bool> WaitAsync(TimeSpan delay, CancellationToken stop)
    {
        try
        {
            await Task.Delay(delay, time, stop);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }
}
