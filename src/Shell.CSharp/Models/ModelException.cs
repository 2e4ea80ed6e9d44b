namespace Schedulers.Models;

/// <summary>A model file that does not load, does not have the expected signature, or returns an output of the wrong
/// shape or with non-finite values; the message names the file and what was expected.</summary>
public sealed class ModelException(string message, Exception? inner = null) : Exception(message, inner);
