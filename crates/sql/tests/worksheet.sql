-- The original pipeline's worksheet, as written (identifiers of the default PipelineSpec).
select count(*) from customer;
insert into customer values(223136,'Jessica','Arnold','tanner39@smith.com','595 Benjamin Forge Suite 124','Michaelstad','Connecticut','Cape Verde',current_timestamp());
update customer set FIRST_NAME='Jessica', update_timestamp = current_timestamp()::timestamp_ntz where customer_id=72;
delete from customer where customer_id =73 ;
select * from customer_table_changes;
select * from customer_history where customer_id in (72,73,223136);
select * from customer where customer_id in (72,73,223136);
select count(*),customer_id from customer group by customer_id having count(*)=1;
select * from customer_history where IS_CURRENT=TRUE;
select * from customer_history where IS_CURRENT=FALSE;
select timestampdiff(second, current_timestamp, scheduled_time) as next_run, scheduled_time, current_timestamp, name, state
  from table(information_schema.task_history()) where state = 'SCHEDULED' order by completed_time desc;
