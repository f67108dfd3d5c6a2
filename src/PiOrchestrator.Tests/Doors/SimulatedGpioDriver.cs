using System.Device.Gpio;
using System.Diagnostics.CodeAnalysis;
using PiOrchestrator.Doors;

namespace PiOrchestrator.Tests.Doors;

/// <summary>
/// Stands in for the GPIO hardware, which these machines do not have (no /dev/gpiochip*, gpio-sim cannot load): a
/// System.Device.Gpio driver that the real <see cref="GpioController"/> runs over, so the controller's open, mode,
/// read and callback path is the library's own. <see cref="Edge"/> plays the driver's event thread: it changes the
/// level and raises the registered callbacks the way libgpiod's drivers do.
/// </summary>
public sealed class SimulatedGpioDriver(PinValue initialLevel) : GpioDriver
{
    private readonly Lock _lock = new();
    private readonly Dictionary<int, List<(PinEventTypes Types, PinChangeEventHandler Callback)>> _callbacks = [];
    private PinValue _level = initialLevel;

    public Dictionary<int, PinMode?> OpenPins { get; } = [];
    public bool Disposed { get; private set; }
    public Exception? ReadFault { get; set; }
    public bool RefuseCallbacks { get; set; }

    public int CallbackCount(int pin)
    {
        lock (_lock) return _callbacks.GetValueOrDefault(pin)?.Count ?? 0;
    }

    /// <summary>The line goes to <paramref name="level"/>; every callback registered for that edge runs, on this thread.</summary>
    public void Edge(int pin, PinValue level)
    {
        lock (_lock)
        {
            _level = level;
            var type = level == PinValue.High ? PinEventTypes.Rising : PinEventTypes.Falling;
            foreach (var (types, callback) in _callbacks.GetValueOrDefault(pin) ?? [])
                if ((types & type) != 0) callback(this, new PinValueChangedEventArgs(type, pin));
        }
    }

    /// <summary>The level changes and no edge is reported, as when a driver's event thread has died.</summary>
    public void SilentLevel(PinValue level)
    {
        lock (_lock) _level = level;
    }

    protected override int PinCount => 54;

    protected override void OpenPin(int pinNumber)
    {
        lock (_lock) OpenPins[pinNumber] = null;
    }

    protected override void ClosePin(int pinNumber)
    {
        lock (_lock) OpenPins.Remove(pinNumber);
    }

    protected override void SetPinMode(int pinNumber, PinMode mode)
    {
        lock (_lock) OpenPins[pinNumber] = mode;
    }

    protected override PinMode GetPinMode(int pinNumber)
    {
        lock (_lock) return OpenPins[pinNumber] ?? PinMode.Input;
    }

    protected override bool IsPinModeSupported(int pinNumber, PinMode mode) => mode != PinMode.Output;

    protected override PinValue Read(int pinNumber)
    {
        lock (_lock)
        {
            if (ReadFault is { } fault) throw fault;
            return _level;
        }
    }

    protected override void Write(int pinNumber, PinValue value) => throw new NotSupportedException("a door contact is an input");

    [DoesNotReturn]
    protected override WaitForEventResult WaitForEvent(int pinNumber, PinEventTypes eventTypes, CancellationToken cancellationToken) =>
        throw new NotSupportedException("the door sensor uses callbacks");

    protected override void AddCallbackForPinValueChangedEvent(int pinNumber, PinEventTypes eventTypes, PinChangeEventHandler callback)
    {
        if (RefuseCallbacks) throw new IOException("Device or resource busy");
        lock (_lock)
        {
            if (!_callbacks.TryGetValue(pinNumber, out var list)) _callbacks[pinNumber] = list = [];
            list.Add((eventTypes, callback));
        }
    }

    protected override void RemoveCallbackForPinValueChangedEvent(int pinNumber, PinChangeEventHandler callback)
    {
        lock (_lock) _callbacks.GetValueOrDefault(pinNumber)?.RemoveAll(c => c.Callback == callback);
    }

    protected override void Dispose(bool disposing)
    {
        lock (_lock)
        {
            Disposed = true;
            _callbacks.Clear();
        }
        base.Dispose(disposing);
    }
}

/// <summary>Gives each chip name its simulated driver, or a failure reason, as the real factory would.</summary>
public sealed class SimulatedGpioDrivers : IGpioDriverFactory
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, SimulatedGpioDriver> _drivers = [];
    private readonly Dictionary<string, string> _failures = [];
    private int _attempts;

    public int Attempts => Volatile.Read(ref _attempts);

    public void Add(string chip, SimulatedGpioDriver driver)
    {
        lock (_lock) _drivers[chip] = driver;
    }

    public void Fail(string chip, string reason)
    {
        lock (_lock) _failures[chip] = reason;
    }

    public void Heal(string chip)
    {
        lock (_lock) _failures.Remove(chip);
    }

    public bool TryOpen(string chip, [NotNullWhen(true)] out GpioDriver? driver, out string error)
    {
        Interlocked.Increment(ref _attempts);
        lock (_lock)
        {
            driver = null;
            error = "";
            if (_failures.TryGetValue(chip, out var reason))
            {
                error = reason;
                return false;
            }
            driver = _drivers[chip];
            return true;
        }
    }
}
