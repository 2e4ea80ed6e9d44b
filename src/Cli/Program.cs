using Schedulers.Cli;

return ToolCommand.Create().Parse(args).Invoke();
