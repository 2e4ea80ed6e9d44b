using Schedulers.Cli;

return ParseErrors.Invoke(ToolCommand.Create(), args);
